use datafusion::arrow::array::AsArray;

use super::*;
use crate::new_session;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 4231's HMAC-SHA-256 test cases 1 to 4, 6 and 7 (case 5 truncates its output).
#[test]
fn rfc_4231_vectors() {
    let block_key = vec![0xaa; 131];
    let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
        (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ((1..=25).collect(), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (block_key.clone(), b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (block_key, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (i, (key, data, want)) in cases.iter().enumerate() {
        assert_eq!(IdKey::new(key).mac(data).to_vec(), unhex(want), "case {i}");
    }
    let jefe = IdKey::new(b"Jefe");
    assert_eq!(
        jefe.user_key("what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn the_key_never_prints_and_its_fingerprint_is_stable() {
    let key = IdKey::new(b"a secret of thirty-two bytes!!!!");
    let shown = format!("{key:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert_eq!(
        key.fingerprint(),
        hex::encode(&key.mac(b"fingerprint")[..8])
    );
    assert_eq!(key.fingerprint().len(), 16);
    assert_ne!(
        key.fingerprint(),
        IdKey::new(b"another secret, thirty-two bytes").fingerprint()
    );
}

#[test]
fn a_missing_or_short_variable_is_named_without_its_value() {
    let missing = "LIFECYCLE_TEST_KEY_THAT_NOBODY_SETS";
    assert_eq!(
        IdKey::from_env(missing).unwrap_err(),
        KeyError::Missing(missing.to_string())
    );
    // PATH is set on every machine that runs the tests; as a key it is long enough.
    let path = std::env::var("PATH").unwrap();
    let key = IdKey::from_env("PATH").unwrap();
    assert_eq!(
        key.user_key("u1"),
        IdKey::new(path.as_bytes()).user_key("u1")
    );
    let message = KeyError::TooShort {
        var: "K".into(),
        len: 3,
    }
    .to_string();
    assert!(
        message.contains('K') && message.contains("3 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn the_sql_function_keys_ids_of_any_string_type_and_keeps_nulls() {
    let key = IdKey::new(b"a secret of thirty-two bytes!!!!");
    let ctx = new_session();
    ctx.register_udf(user_key_udf(key.clone()));
    let sql = "SELECT lc_user_key(id) AS k FROM (VALUES ('u1'), (NULL), ('u2'), ('u1')) AS t(id) \
               UNION ALL SELECT lc_user_key(arrow_cast('u2', 'Utf8View'))";
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let got: Vec<Option<String>> = batches
        .iter()
        .flat_map(|b| {
            let keys = b.column(0).as_string::<i32>().clone();
            (0..keys.len())
                .map(move |i| keys.is_valid(i).then(|| keys.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (u1, u2) = (Some(key.user_key("u1")), Some(key.user_key("u2")));
    let mut want = vec![u1.clone(), None, u2.clone(), u1, u2];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);
}
