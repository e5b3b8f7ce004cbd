//! `[privacy]`: pseudonymous user ids.

use serde::{Deserialize, Serialize};

use crate::{Result, SpecError};

/// `[privacy]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// The environment variable holding the HMAC key: when set, every published table carries
    /// `user_key = hex(HMAC-SHA256(key, user_id))` instead of `user_id`. Unset: raw ids.
    #[serde(default)]
    pub id_key_env: Option<String>,
}

/// Checks `[privacy]`: a variable name is letters, digits and `_`, not starting with a digit.
pub(crate) fn validate_privacy(p: &PrivacySettings) -> Result<()> {
    let Some(var) = &p.id_key_env else {
        return Ok(());
    };
    let ok = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match ok {
        true => Ok(()),
        false => Err(SpecError::Invalid {
            setting: "privacy.id_key_env".into(),
            reason: format!(
                "`{var}` is not an environment variable's name (letters, digits and _): name \
                 the variable that holds the key, never the key itself"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_name_is_checked_never_a_key() {
        let of = |v: &str| PrivacySettings {
            id_key_env: Some(v.into()),
        };
        assert!(validate_privacy(&PrivacySettings::default()).is_ok());
        assert!(validate_privacy(&of("LIFECYCLE_ID_KEY")).is_ok());
        for bad in ["", "9KEY", "my key", "s3cr3t-v@lue"] {
            let err = validate_privacy(&of(bad)).unwrap_err().to_string();
            assert!(err.contains("privacy.id_key_env"), "{bad}: {err}");
        }
    }
}
