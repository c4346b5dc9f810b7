//! The API's open enums (status types, job states, certificate types, ...): each keeps a value
//! it does not know in `Unknown(String)` instead of failing the whole answer.

use std::fmt;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Declares a string enum with an `Unknown(String)` fallback. Parsing is case-insensitive (the
/// XML gateway writes `success`, the JSON API `SUCCESS`); extra spellings map to a known variant.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal $(| $alias:literal)* ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this client does not know, kept as the server sent it.
            Unknown(String),
        }

        impl $name {
            /// The JSON spelling (upper case, as in the OpenAPI file).
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s.as_str(),
                }
            }

            /// Parses a value case-insensitively; anything unknown is kept in `Unknown`.
            pub fn parse(text: &str) -> Self {
                let t = text.trim();
                $(
                    if t.eq_ignore_ascii_case($wire) $(|| t.eq_ignore_ascii_case($alias))* {
                        return $name::$variant;
                    }
                )+
                $name::Unknown(t.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

open_enum! {
    /// `StatusType` (§1.6): the outcome class of a response or a message.
    StatusType {
        /// The task was carried out.
        Success = "SUCCESS",
        /// The task failed.
        Error = "ERROR",
        /// Accepted; an asynchronous job carries on (`N…` codes).
        Notify = "NOTIFY",
        /// Carried out, with a notice.
        Notice = "NOTICE",
        /// A registry notification.
        NiccomNotify = "NICCOM_NOTIFY",
    }
}

open_enum! {
    /// `JobStatusConstants` (§2.14 Job). `DEFFERED` is the manual's misspelling (§2.12).
    JobStatus {
        /// Still being processed.
        Running = "RUNNING",
        /// Finished successfully.
        Success = "SUCCESS",
        /// Finished with an error.
        Failed = "FAILED" | "ERROR",
        /// Cancelled.
        Canceled = "CANCELED" | "CANCELLED",
        /// Handed to InterNetX support.
        Support = "SUPPORT",
        /// Waiting (e.g. for a validation step).
        Deferred = "DEFERRED" | "DEFFERED",
        /// No status yet.
        NotSet = "NOT_SET",
        /// Waiting for an outside event.
        Wait = "WAIT",
    }
}

impl JobStatus {
    /// True for the states a job does not leave again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

open_enum! {
    /// `CertificateType` (§2.14): `MAIL` marks an S/MIME order.
    CertificateType {
        /// A TLS server certificate.
        Fqdn = "FQDN",
        /// An S/MIME certificate.
        Mail = "MAIL",
        /// Code signing.
        Code = "CODE",
        /// Document signing.
        Document = "DOCUMENT",
        /// Verified mark certificate.
        Vmc = "VMC",
    }
}

open_enum! {
    /// `CaCertificate.caType` values seen in fixtures (§4.5).
    CaType {
        /// An intermediate CA certificate.
        Intermediate = "INTERMEDIATE",
        /// The root certificate.
        Root = "ROOT",
    }
}

open_enum! {
    /// `TimeUnitConstants` (§2.14 TimePeriod); certificates use `MONTH`.
    TimeUnit {
        /// Months.
        Month = "MONTH",
        /// Years.
        Year = "YEAR",
        /// Days.
        Day = "DAY",
        /// Weeks.
        Week = "WEEK",
        /// Quarters.
        Quarter = "QUARTER",
    }
}

open_enum! {
    /// `AuthMethodConstants` (§2.14 CertAuthentication).
    AuthMethod {
        /// DNS record validation.
        Dns = "DNS",
        /// Approver e-mail validation.
        Email = "EMAIL",
        /// HTTP file validation.
        File = "FILE",
        /// Organisation validation.
        Org = "ORG",
    }
}
