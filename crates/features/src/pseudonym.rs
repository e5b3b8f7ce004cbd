//! Pseudonymous user ids (`[privacy] id_key_env`): `user_key = hex(HMAC-SHA256(key, user_id))`,
//! the `lc_user_key` SQL function that keys the ids as the inputs are mapped (so no later step,
//! table or file ever holds a raw id), and the key's fingerprint that a manifest records instead
//! of the key.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
// DataFusion's own map (hashbrown with a fast hasher): looked up once per event row.
use datafusion::common::HashMap;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The SQL name of the function.
pub const USER_KEY: &str = "lc_user_key";

/// The variable executors read their key from unless told another (`--id-key-env`).
pub const DEFAULT_KEY_ENV: &str = "LIFECYCLE_ID_KEY";

/// The shortest key accepted, in bytes: HMAC-SHA256 is as strong as its key up to 32 bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// How the inputs' user ids are mapped: as they are, or keyed with `lc_user_key` (registered on
/// the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIds {
    Raw,
    Keyed,
}

impl UserIds {
    /// The SQL of the mapped id from `value_sql` (already text).
    pub fn map(self, value_sql: String) -> String {
        match self {
            UserIds::Raw => value_sql,
            UserIds::Keyed => format!("{USER_KEY}({value_sql})"),
        }
    }
}

/// The contract column that holds user ids in every input that has one.
pub const USER_ID: &str = "user_id";

/// A secret HMAC key. It never prints: `Debug` shows its fingerprint only.
#[derive(Clone)]
pub struct IdKey {
    /// The HMAC state after the key (shared: cloned per message).
    mac: Arc<Hmac<Sha256>>,
}

/// Why a key could not be had from the environment (the message names the variable, never a
/// value).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyError {
    #[error(
        "the environment variable {0} is not set (it holds the key user ids are pseudonymised with)"
    )]
    Missing(String),
    #[error(
        "the environment variable {var} holds {len} bytes: a key needs at least {MIN_KEY_BYTES} (32 random bytes are best)"
    )]
    TooShort { var: String, len: usize },
}

impl IdKey {
    /// A key from its secret bytes (any length; see [`MIN_KEY_BYTES`] for what a run accepts).
    pub fn new(secret: &[u8]) -> IdKey {
        IdKey {
            mac: Arc::new(
                Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"),
            ),
        }
    }

    /// The key in the environment variable `var` (its bytes as they are).
    pub fn from_env(var: &str) -> Result<IdKey, KeyError> {
        let value = std::env::var_os(var).ok_or_else(|| KeyError::Missing(var.to_string()))?;
        let bytes = value.as_encoded_bytes();
        if bytes.is_empty() {
            return Err(KeyError::Missing(var.to_string()));
        }
        if bytes.len() < MIN_KEY_BYTES {
            let (var, len) = (var.to_string(), bytes.len());
            return Err(KeyError::TooShort { var, len });
        }
        Ok(IdKey::new(bytes))
    }

    /// The HMAC-SHA256 of `message`.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = (*self.mac).clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// The user key of `id`: the HMAC of its UTF-8 bytes in lowercase hex.
    pub fn user_key(&self, id: &str) -> String {
        hex::encode(self.mac(id.as_bytes()))
    }

    /// The first 8 bytes of HMAC(key, "fingerprint") in hex: two runs with equal fingerprints
    /// used the same key; the fingerprint tells nothing about the key or any id.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.mac(b"fingerprint")[..8])
    }
}

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdKey(fingerprint {})", self.fingerprint())
    }
}

/// `lc_user_key(id)`: the user key of each id (null stays null), keyed with `key`. Each distinct
/// id is hashed once per run: the keys are remembered, since a log repeats its users' ids in
/// every event.
pub fn user_key_udf(key: IdKey) -> ScalarUDF {
    ScalarUDF::from(UserKey {
        signature: Signature::any(1, Volatility::Immutable),
        fingerprint: key.fingerprint(),
        key: Ok(key),
        known: Mutex::new(HashMap::default()),
    })
}

/// `lc_user_key` in a process without a key (a scheduler, which only plans; an executor whose
/// variable `var` is unset): it plans, and fails naming `var` if a task ever calls it.
pub fn keyless_user_key_udf(var: &str) -> ScalarUDF {
    ScalarUDF::from(UserKey {
        signature: Signature::any(1, Volatility::Immutable),
        fingerprint: String::new(),
        key: Err(var.to_string()),
        known: Mutex::new(HashMap::default()),
    })
}

struct UserKey {
    signature: Signature,
    /// The key, or the variable that should have held it.
    key: Result<IdKey, String>,
    fingerprint: String,
    known: Mutex<HashMap<Box<str>, Box<str>>>,
}

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserKey({})", self.fingerprint)
    }
}

impl PartialEq for UserKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}
impl Eq for UserKey {}
impl std::hash::Hash for UserKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

impl UserKey {
    /// The keys of `ids` (any string type), row by row.
    fn keys(&self, ids: &ArrayRef) -> datafusion::common::Result<StringArray> {
        let key = match &self.key {
            Ok(key) => key,
            Err(var) => {
                return datafusion::common::exec_err!(
                    "{USER_KEY}: this process has no key for pseudonymous ids (the environment variable {var} is not set)"
                );
            }
        };
        let ids = cast(ids, &DataType::Utf8)?;
        let ids = ids
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8 gives a StringArray");
        let mut known = self.known.lock().expect("user key cache poisoned");
        let mut keys = StringBuilder::with_capacity(ids.len(), ids.len() * 64);
        for id in ids.iter() {
            let Some(id) = id else {
                keys.append_null();
                continue;
            };
            match known.get(id) {
                Some(k) => keys.append_value(k),
                None => {
                    let k: Box<str> = key.user_key(id).into();
                    keys.append_value(&k);
                    known.insert(id.into(), k);
                }
            }
        }
        Ok(keys.finish())
    }
}

impl ScalarUDFImpl for UserKey {
    fn name(&self) -> &str {
        USER_KEY
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let ids = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(self.keys(&ids)?)))
    }
}

#[cfg(test)]
mod tests;
