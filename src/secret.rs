//! Owns the `Secret` wrapper: values that must never reach a log line.
//!
//! `Debug` and `Display` print a fixed placeholder, so a secret inside any struct that derives
//! `Debug` stays hidden in `tracing` output and error messages. The value is reachable only through
//! [`Secret::expose`], which makes every use greppable; serializing one is opt-in per field with
//! [`exposed`], for the same reason.

use std::fmt;

/// A value whose text must not be printed. Cloning is allowed; printing is not.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// Returns the value. Call sites are the only places a secret is used; keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Serde support for a secret that must cross a wire or a state file, opt-in per field with
/// `#[serde(with = "crate::secret::exposed")]`, so every place a secret is serialized is
/// greppable. `Secret` itself implements neither `Serialize` nor `Deserialize`: a struct that
/// derives them cannot write a secret by accident.
pub mod exposed {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Secret;

    /// Writes the value as its inner type.
    pub fn serialize<T: Serialize, S: Serializer>(v: &Secret<T>, s: S) -> Result<S::Ok, S::Error> {
        v.expose().serialize(s)
    }

    /// Reads the inner type and wraps it.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Secret<T>, D::Error> {
        T::deserialize(d).map(Secret::new)
    }
}

/// [`exposed`] for an optional secret: `None` is written as `null`.
pub mod exposed_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Secret;

    /// Writes the value as `Option` of its inner type.
    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Secret<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_ref().map(Secret::expose).serialize(s)
    }

    /// Reads `Option` of the inner type and wraps the value.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Secret<T>>, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2hunter2".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2hunter2");
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Stored {
        #[serde(with = "super::exposed")]
        password: Secret<String>,
    }

    #[test]
    fn an_opted_in_field_round_trips_through_serde_and_still_hides_in_debug() {
        let s = Stored {
            password: Secret::new("hunter2hunter2".to_string()),
        };
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, r#"{"password":"hunter2hunter2"}"#);
        let back: Option<Stored> = serde_json::from_str(&json).ok();
        assert_eq!(back.as_ref(), Some(&s));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct MaybeStored {
        #[serde(with = "super::exposed_option", default)]
        password: Option<Secret<String>>,
    }

    #[test]
    fn an_optional_secret_round_trips_both_ways_and_hides_in_debug() {
        for (v, json) in [
            (Some("hunter2hunter2"), r#"{"password":"hunter2hunter2"}"#),
            (None, r#"{"password":null}"#),
        ] {
            let s = MaybeStored {
                password: v.map(|p| Secret::new(p.to_string())),
            };
            assert_eq!(serde_json::to_string(&s).unwrap_or_default(), json);
            let back: Option<MaybeStored> = serde_json::from_str(json).ok();
            assert_eq!(back.as_ref(), Some(&s));
            assert!(!format!("{s:?}").contains("hunter2"));
        }
        let missing: Option<MaybeStored> = serde_json::from_str("{}").ok();
        assert_eq!(missing, Some(MaybeStored { password: None }));
    }
}
