//! The OIDC relying party: provider discovery, the authorization-code flow
//! with PKCE S256, `state` and `nonce`, ID-token validation (issuer,
//! audience, signature, expiry, nonce — by the `openidconnect` crate), and
//! refresh. Claims become a [`LoginInput`] (by
//! [`service::auth::login_input_from_claims`]) for `service::auth::login`,
//! the same get-or-create the dev login uses.
//!
//! Discovery runs on first use and is cached, so cubby starts even while the
//! identity provider is briefly unreachable.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, NonceVerifier,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    TokenResponse,
};
use serde_json::Value;
use service::auth::{ClaimNames, LoginInput, Refresh, UpstreamTokens};
use service::Code;
use std::sync::Arc;
use tokio::sync::RwLock;

use crate::config::Config;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why an OIDC step failed. Messages are for the server log only.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    #[error("login refused: {0}")]
    Refused(String),
}

/// OIDC failures, mapped once: the provider is down (503
/// `provider_unavailable`), or its answer was not accepted (400
/// `login_refused`, the reason logged here and not shown).
impl From<OidcError> for service::Error {
    fn from(err: OidcError) -> Self {
        match err {
            OidcError::Unavailable(msg) => service::Error::ProviderUnavailable(msg),
            OidcError::Refused(msg) => {
                tracing::warn!(error = %msg, "OIDC login refused");
                service::Error::invalid(
                    Code::LoginRefused,
                    "the identity provider's answer was not accepted; start the login again",
                )
            }
        }
    }
}

struct Discovered {
    client: Client,
    userinfo_url: Option<String>,
    /// RP-initiated logout, when the provider offers it.
    end_session_url: Option<String>,
    fetched_at: std::time::Instant,
}

/// The shortest time between two fetches of the provider's keys.
const REDISCOVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The configured provider (from `CUBBY_OIDC_*` and `CUBBY_PUBLIC_URL`).
pub struct Oidc {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    redirect_url: String,
    groups_claim: String,
    role_claim: String,
    http: openidconnect::reqwest::Client,
    /// What discovery found; fetched again when a token names an unknown key.
    discovered: RwLock<Option<Arc<Discovered>>>,
}

/// A login to send the browser to.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

impl Oidc {
    /// `None` unless issuer, client id and public URL are all set.
    pub fn from_config(config: &Config) -> Option<Oidc> {
        let issuer = config.oidc_issuer.clone()?;
        let client_id = config.oidc_client_id.clone()?;
        let public = config.public_url.clone()?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would expose the token calls to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .ok()?;
        Some(Oidc {
            issuer,
            client_id,
            client_secret: config.oidc_client_secret.clone(),
            redirect_url: format!("{}/auth/callback", public.trim_end_matches('/')),
            groups_claim: config.oidc_groups_claim.clone(),
            role_claim: config.oidc_role_claim.clone(),
            http,
            discovered: RwLock::new(None),
        })
    }

    /// The provider's metadata and keys, fetched on first use and kept.
    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        if let Some(d) = self.discovered.read().await.as_ref() {
            return Ok(d.clone());
        }
        self.rediscover(None).await
    }

    /// Fetches the metadata and keys again, unless another request did since
    /// `stale` was handed out (then its result is used), or the last fetch
    /// is younger than [`REDISCOVERY_INTERVAL`] (a flood of tokens naming
    /// unknown keys must not become a flood of requests to the provider).
    async fn rediscover(
        &self,
        stale: Option<&Arc<Discovered>>,
    ) -> Result<Arc<Discovered>, OidcError> {
        let mut slot = self.discovered.write().await;
        if let Some(current) = slot.as_ref() {
            let replaced = stale.is_none_or(|s| !Arc::ptr_eq(s, current));
            if replaced || current.fetched_at.elapsed() < REDISCOVERY_INTERVAL {
                return Ok(current.clone());
            }
        }
        let fresh = Arc::new(self.discover().await?);
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    async fn discover(&self) -> Result<Discovered, OidcError> {
        {
            {
                let issuer = IssuerUrl::new(self.issuer.clone())
                    .map_err(|e| OidcError::Unavailable(format!("issuer URL: {e}")))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| OidcError::Unavailable(format!("discovery: {e}")))?;
                let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().to_string());
                let end_session_url = self.end_session_endpoint().await;
                let redirect = RedirectUrl::new(self.redirect_url.clone())
                    .map_err(|e| OidcError::Unavailable(format!("redirect URL: {e}")))?;
                let client = CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(self.client_id.clone()),
                    self.client_secret.clone().map(ClientSecret::new),
                )
                .set_redirect_uri(redirect);
                Ok(Discovered {
                    client,
                    userinfo_url,
                    end_session_url,
                    fetched_at: std::time::Instant::now(),
                })
            }
        }
    }

    /// `end_session_endpoint` from the discovery document (not among the
    /// core metadata fields the `openidconnect` crate parses).
    async fn end_session_endpoint(&self) -> Option<String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: serde_json::Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
        doc.get("end_session_endpoint")?.as_str().map(str::to_owned)
    }

    /// Where to send the browser to log out at the provider too, coming back
    /// to `after` (a URL on this site); `None` when the provider has no
    /// end-session endpoint.
    pub async fn logout_url(&self, after: &str) -> Option<String> {
        let d = self.discovered().await.ok()?;
        let mut url = openidconnect::url::Url::parse(d.end_session_url.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("post_logout_redirect_uri", after);
        Some(url.to_string())
    }

    /// The public base URL (for post-logout redirects).
    pub fn public_base(&self) -> &str {
        self.redirect_url.trim_end_matches("/auth/callback")
    }

    /// A new authorization request (code flow, PKCE S256, state, nonce).
    pub async fn start(&self) -> Result<Started, OidcError> {
        let d = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = d
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Started {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        })
    }

    /// Exchanges the code and validates the ID token; returns who logged in
    /// and the tokens to keep with the session.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<(LoginInput, UpstreamTokens), OidcError> {
        let d = self.discovered().await?;
        let response = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Refused(format!("code exchange: {e}")))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Refused("no ID token".into()))?;
        let expected = Nonce::new(nonce.to_owned());
        let d = self.verify_id_token(d, id_token, &expected).await?;
        let claims = self
            .claims_of(&d, &id_token.to_string(), response.access_token().secret())
            .await?;
        Ok((self.login_input(&claims)?, tokens_of(&response)))
    }

    /// Checks an ID token's signature, issuer, audience, expiry and nonce.
    /// When the signature names a key we do not know, the provider may have
    /// rotated its keys: they are fetched again (at most every 10 s) and the
    /// token checked once more — no restart needed. Returns the discovery
    /// the token was verified with.
    async fn verify_id_token(
        &self,
        d: Arc<Discovered>,
        id_token: &CoreIdToken,
        nonce: impl NonceVerifier + Copy,
    ) -> Result<Arc<Discovered>, OidcError> {
        let refused = |e: ClaimsVerificationError| OidcError::Refused(format!("ID token: {e}"));
        let checked = id_token
            .claims(&d.client.id_token_verifier(), nonce)
            .map(|_| ());
        match checked {
            Ok(()) => Ok(d),
            Err(ClaimsVerificationError::SignatureVerification(why)) => {
                tracing::info!(error = %why, "ID token signature not verified; fetching the provider's keys again");
                let fresh = self.rediscover(Some(&d)).await?;
                id_token
                    .claims(&fresh.client.id_token_verifier(), nonce)
                    .map_err(refused)?;
                Ok(fresh)
            }
            Err(e) => Err(refused(e)),
        }
    }

    /// Uses the refresh token; `Refused` when the provider says no.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refresh, OidcError> {
        let d = self.discovered().await?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let response = match d
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?
            .request_async(&self.http)
            .await
        {
            Ok(r) => r,
            Err(openidconnect::RequestTokenError::ServerResponse(e)) => {
                tracing::info!(error = %e, "the provider refused a refresh; ending the session");
                return Ok(Refresh::Refused);
            }
            Err(e) => return Err(OidcError::Unavailable(format!("refresh: {e}"))),
        };
        let mut tokens = tokens_of(&response);
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.to_owned());
        }
        // New claims, if the provider sent a (valid) ID token with the refresh.
        let claims = match response.id_token() {
            Some(id_token) => {
                let no_nonce = |_: Option<&Nonce>| Ok::<(), String>(());
                match self.verify_id_token(d, id_token, no_nonce).await {
                    Ok(d) => {
                        let all = self
                            .claims_of(&d, &id_token.to_string(), response.access_token().secret())
                            .await?;
                        self.login_input(&all).ok()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring an invalid ID token from a refresh");
                        None
                    }
                }
            }
            None => None,
        };
        Ok(Refresh::Fresh(tokens, claims))
    }

    /// All claims: the (already verified) ID token's payload, completed by
    /// the userinfo endpoint for what it lacks.
    async fn claims_of(
        &self,
        d: &Discovered,
        id_token: &str,
        access_token: &str,
    ) -> Result<HashMap<String, Value>, OidcError> {
        let payload = id_token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<HashMap<String, Value>>(&bytes).ok())
            .ok_or_else(|| OidcError::Refused("unreadable ID token payload".into()))?;
        let mut claims = payload;
        let wanted = [
            self.groups_claim.as_str(),
            self.role_claim.as_str(),
            "preferred_username",
            "name",
        ];
        if wanted.iter().any(|c| !claims.contains_key(*c)) {
            if let Some(url) = &d.userinfo_url {
                if let Ok(resp) = self.http.get(url).bearer_auth(access_token).send().await {
                    if let Ok(info) = resp.json::<HashMap<String, Value>>().await {
                        // The userinfo subject must be the ID token's.
                        if info.get("sub") == claims.get("sub") {
                            for (k, v) in info {
                                claims.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
        }
        Ok(claims)
    }

    /// Who logged in, by the claim mapping in `service::auth`.
    fn login_input(&self, claims: &HashMap<String, Value>) -> Result<LoginInput, OidcError> {
        let names = ClaimNames {
            groups: &self.groups_claim,
            role: &self.role_claim,
        };
        service::auth::login_input_from_claims(claims, names)
            .ok_or_else(|| OidcError::Refused("no sub claim".into()))
    }
}

fn tokens_of<T: OAuth2TokenResponse>(response: &T) -> UpstreamTokens {
    let expires_at: Option<DateTime<Utc>> = response
        .expires_in()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d);
    UpstreamTokens {
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        access_expires_at: expires_at,
    }
}
