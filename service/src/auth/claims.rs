//! Who logged in, read from an identity provider's claims (the verified ID
//! token, completed by userinfo). Pure: the `api` crate's OIDC client hands
//! the claims over, and the mapping is unit-tested here without a provider.
//!
//! | user field | from the claims |
//! |---|---|
//! | `username` | `preferred_username`, else `sub` |
//! | `display_name` | `name`, else the username |
//! | `role` | the role claim: `teacher` (or a list containing it), anything else `student` |
//! | groups | the groups claim: strings (id and name) or `{"id", "name"}` objects |

use std::collections::HashMap;

use serde_json::Value;

use super::{GroupClaim, LoginInput, Role};

/// Which claims carry the classes and the role (`CUBBY_OIDC_GROUPS_CLAIM`,
/// `CUBBY_OIDC_ROLE_CLAIM`).
#[derive(Clone, Copy, Debug)]
pub struct ClaimNames<'a> {
    pub groups: &'a str,
    pub role: &'a str,
}

/// The login these claims describe; `None` without a `sub` claim. The
/// subject is namespaced (`oidc|<sub>`) so that it can never collide with a
/// dev login's `dev|<username>`.
pub fn login_input_from_claims(
    claims: &HashMap<String, Value>,
    names: ClaimNames<'_>,
) -> Option<LoginInput> {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let sub = text("sub")?;
    let username = text("preferred_username").unwrap_or(sub).to_owned();
    Some(LoginInput {
        subject: format!("oidc|{sub}"),
        display_name: text("name").map(str::to_owned),
        username,
        role: role_of(claims.get(names.role)),
        groups: groups_of(claims.get(names.groups)),
    })
}

/// A single string, or a list of roles (as some providers send).
fn role_of(claim: Option<&Value>) -> Role {
    let is_teacher = match claim {
        Some(Value::String(r)) => r == "teacher",
        Some(Value::Array(rs)) => rs.iter().any(|r| r.as_str() == Some("teacher")),
        _ => false,
    };
    if is_teacher {
        Role::Teacher
    } else {
        Role::Student
    }
}

/// Groups: a list of strings (each is id and name) or of `{"id", "name"}`;
/// anything else in the list is skipped.
fn groups_of(claim: Option<&Value>) -> Vec<GroupClaim> {
    let Some(Value::Array(items)) = claim else {
        return Vec::new();
    };
    items.iter().filter_map(group_of).collect()
}

fn group_of(item: &Value) -> Option<GroupClaim> {
    match item {
        Value::String(s) if !s.is_empty() => Some(GroupClaim {
            external_id: s.clone(),
            name: s.clone(),
        }),
        Value::Object(o) => {
            let id = match o.get("id")? {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_owned();
            Some(GroupClaim {
                external_id: id,
                name,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMES: ClaimNames<'static> = ClaimNames {
        groups: "groups",
        role: "role",
    };

    fn input(claims: Value) -> Option<LoginInput> {
        let map: HashMap<String, Value> = serde_json::from_value(claims).unwrap();
        login_input_from_claims(&map, NAMES)
    }

    fn group(id: &str, name: &str) -> GroupClaim {
        GroupClaim {
            external_id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn username_and_display_name_fall_back_to_sub() {
        let full =
            input(json!({"sub": "u1", "preferred_username": "ann", "name": "Ann A."})).unwrap();
        assert_eq!(full.subject, "oidc|u1");
        assert_eq!(full.username, "ann");
        assert_eq!(full.display_name.as_deref(), Some("Ann A."));
        let bare = input(json!({"sub": "u1", "preferred_username": ""})).unwrap();
        assert_eq!(bare.username, "u1");
        assert_eq!(bare.display_name, None);
    }

    #[test]
    fn no_sub_no_login() {
        assert!(input(json!({"preferred_username": "ann"})).is_none());
        assert!(input(json!({"sub": ""})).is_none());
        assert!(input(json!({"sub": 42})).is_none());
    }

    #[test]
    fn only_teacher_is_a_teacher() {
        let role = |r: Value| input(json!({"sub": "u", "role": r})).unwrap().role;
        assert_eq!(role(json!("teacher")), Role::Teacher);
        assert_eq!(role(json!(["staff", "teacher"])), Role::Teacher);
        for other in [
            json!("Teacher"),
            json!("admin"),
            json!(["student"]),
            json!(1),
            json!(null),
        ] {
            assert_eq!(role(other.clone()), Role::Student, "{other}");
        }
        assert_eq!(input(json!({"sub": "u"})).unwrap().role, Role::Student);
    }

    #[test]
    fn groups_are_strings_or_id_name_objects_and_junk_is_skipped() {
        let groups = |g: Value| input(json!({"sub": "u", "groups": g})).unwrap().groups;
        assert_eq!(
            groups(json!(["7b", "8a"])),
            [group("7b", "7b"), group("8a", "8a")]
        );
        assert_eq!(
            groups(json!([{"id": "7b", "name": "Class 7B"}, {"id": 12}])),
            [group("7b", "Class 7B"), group("12", "12")]
        );
        assert_eq!(
            groups(json!(["", 5, null, {"name": "no id"}, {"id": ""}, {"id": [1]}, "ok"])),
            [group("ok", "ok")]
        );
        assert!(groups(json!("7b")).is_empty());
        assert!(groups(json!({"id": "7b"})).is_empty());
    }

    #[test]
    fn the_claim_names_are_configurable() {
        let map: HashMap<String, Value> = serde_json::from_value(
            json!({"sub": "u", "classes": ["7b"], "kind": "teacher", "groups": ["x"]}),
        )
        .unwrap();
        let got = login_input_from_claims(
            &map,
            ClaimNames {
                groups: "classes",
                role: "kind",
            },
        )
        .unwrap();
        assert_eq!(got.groups, [group("7b", "7b")]);
        assert_eq!(got.role, Role::Teacher);
    }
}
