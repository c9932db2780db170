//! `tollgate rotate-key` against a running gateway: credentials are re-encrypted under a new
//! key, the gateway keeps serving (and picks the key up at its next reload), and retiring the
//! old key leaves everything readable across a restart.

use serde_json::{Value, json};

use crate::harness::*;

async fn chat(gw: &Gateway, f: &Fixture) -> u16 {
    gw.chat(&f.key, json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]})).await.status().as_u16()
}

async fn creds(gw: &Gateway, pid: &str) -> Vec<Value> {
    let v = gw.admin_ok("GET", &format!("/api/v1/providers/{pid}/credentials"), None, 200).await;
    v["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn rotate_key_re_encrypts_credentials_while_the_gateway_serves() {
    let mock = mock().await;
    for engine in engines() {
        mock.reset();
        let mut gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "10").await;
        assert_eq!(chat(&gw, &f).await, 200);
        let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
        let pid = providers["data"][0]["id"].as_str().unwrap().to_string();
        let old_version = creds(&gw, &pid).await[0]["key_version"].as_str().unwrap().to_string();

        let out = gw.run_command(&["rotate-key"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 credential(s) re-encrypted"), "{stdout}");
        let key_file = std::fs::read_to_string(gw.data_dir().join("encryption.key")).unwrap();
        assert_eq!(key_file.lines().count(), 2, "new key first, old key kept");
        let new_version = creds(&gw, &pid).await[0]["key_version"].as_str().unwrap().to_string();
        assert_ne!(new_version, old_version);

        // Still serving; a write reloads the snapshot, which must open the re-encrypted record
        // and seal the new credential under the new key.
        assert_eq!(chat(&gw, &f).await, 200);
        gw.admin_ok(
            "POST",
            &format!("/api/v1/providers/{pid}/credentials"),
            Some(json!({"api_key": "sk-second-key-0000"})),
            201,
        )
        .await;
        assert!(creds(&gw, &pid).await.iter().all(|c| c["key_version"] == new_version.as_str()));
        for _ in 0..2 {
            assert_eq!(chat(&gw, &f).await, 200);
        }
        assert_eq!(mock.stats().by_key.get("sk-second-key-0000"), Some(&1), "the new credential opened");

        let out = gw.run_command(&["rotate-key", "--retire-old-keys"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let key_file = std::fs::read_to_string(gw.data_dir().join("encryption.key")).unwrap();
        assert_eq!(key_file.lines().count(), 1);
        assert!(!any_file_contains(&gw.data_dir(), PROVIDER_KEY.as_bytes()), "no plaintext key on disk");

        gw.terminate().await;
        gw.spawn().await;
        for _ in 0..2 {
            assert_eq!(chat(&gw, &f).await, 200);
        }
        assert_eq!(mock.stats().by_key.get(PROVIDER_KEY), Some(&4));
        assert_eq!(mock.stats().by_key.get("sk-second-key-0000"), Some(&2));
        gw.stop().await;
    }
}
