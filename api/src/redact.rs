//! Keeping secrets out of messages. A leaf: it imports nothing of cubby's.

/// The environment variables whose values must never appear in a log line
/// or an error message.
const SECRET_VARS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "CUBBY_OIDC_CLIENT_SECRET",
];

/// Replaces the values of secret variables in `message` with `***`, in case
/// a library ever echoes one back: messages go to stderr and to logs.
pub fn redact(message: &str) -> String {
    redact_values(
        message,
        SECRET_VARS.iter().filter_map(|v| std::env::var(v).ok()),
    )
}

fn redact_values(message: &str, secrets: impl Iterator<Item = String>) -> String {
    let mut clean = message.to_owned();
    for secret in secrets.filter(|s| !s.is_empty()) {
        clean = clean.replace(&secret, "***");
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_replaced() {
        let secrets = || ["s3cr3t".to_owned(), "key-id".to_owned(), String::new()].into_iter();
        assert_eq!(
            redact_values("auth key-id:s3cr3t failed for s3cr3t", secrets()),
            "auth ***:*** failed for ***"
        );
        assert_eq!(redact_values("nothing here", secrets()), "nothing here");
    }
}
