//! Rule-pack tests: a true positive and near-miss negatives for every built-in family.
//!
//! Secrets are generated at run time from a fixed seed so no token-shaped
//! literal sits in the source tree.

use super::*;

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &str = "0123456789abcdef";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BECH32: &str = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// Deterministic pseudo-random text over `alphabet`.
pub(crate) fn rnd(seed: u64, alphabet: &str, len: usize) -> String {
    bottle_tests::fake::Rng::new(seed).text(alphabet, len)
}

fn scanner() -> Scanner {
    Scanner::load(None, true).expect("built-in rules load")
}

fn rules_hit(s: &Scanner, text: &str) -> Vec<String> {
    s.scan_blob(Some("src/app.py"), None, text.as_bytes())
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

/// (rule id, text that must trigger it, texts that must trigger nothing).
fn cases() -> Vec<(&'static str, String, Vec<String>)> {
    let r = rnd;
    vec![
        (
            "aws-access-key-id",
            format!("aws_id = \"AKIA{}\"", r(1, UPPER32, 16)),
            vec![
                format!("id = \"AKIA{}\"", r(1, UPPER32, 15)),
                format!("id = \"AKIA{}\"", r(1, UPPER32, 16).to_lowercase()),
                "AKIAIOSFODNN7EXAMPLE".to_string(),
                format!("id = \"AKIA{}\"", r(1, "0189", 16)),
            ],
        ),
        (
            "aws-secret-access-key",
            format!("AWS_SECRET_ACCESS_KEY={}", r(2, B64, 40)),
            vec![
                "aws_secret_access_key = os.environ[\"AWS_SECRET_ACCESS_KEY\"]".to_string(),
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
            ],
        ),
        (
            "gcp-api-key",
            format!("key: AIza{}", r(3, URLSAFE, 35)),
            vec![format!("key: AIza{}", r(3, URLSAFE, 30))],
        ),
        (
            "gcp-service-account-key",
            format!("  \"private_key_id\": \"{}\",", r(4, HEX, 40)),
            vec![
                format!("  \"private_key_id\": \"{}\",", r(4, HEX, 39)),
                "{\"type\": \"service_account\", \"project_id\": \"acme\", \"private_key_id\": \"\", \"private_key\": \"\", \"client_email\": \"ci@acme.iam.gserviceaccount.com\"}".to_string(),
            ],
        ),
        (
            "gcp-oauth-client-secret",
            format!("client = GOCSPX-{}", r(5, URLSAFE, 28)),
            vec![format!("client = GOCSPX-{}", r(5, URLSAFE, 20))],
        ),
        (
            "azure-storage-account-key",
            format!("DefaultEndpointsProtocol=https;AccountName=x;AccountKey={}==;", r(6, B64, 86)),
            vec![format!("AccountName=x;AccountKey={}==;", r(6, B64, 40))],
        ),
        (
            "digitalocean-token",
            format!("DO = dop_v1_{}", r(7, HEX, 64)),
            vec![format!("DO = dop_v1_{}", r(7, HEX, 60))],
        ),
        (
            "hashicorp-vault-token",
            format!("VAULT_TOKEN=hvs.{}", r(8, URLSAFE, 95)),
            vec![format!("VAULT_TOKEN=hvs.{}", r(8, LETTERS, 20))],
        ),
        (
            "databricks-token",
            format!("host token dapi{}", r(9, HEX, 32)),
            vec![format!("dapi{}", r(9, HEX, 20))],
        ),
        (
            "github-pat",
            format!("token ghp_{}", r(10, ALNUM, 36)),
            vec![
                format!("ghp_{}", r(10, ALNUM, 35)),
                format!("ghp_{}", r(10, ALNUM, 40)),
                format!("ghp-{}", r(10, ALNUM, 36)),
                format!("id = aghp_{}", r(10, ALNUM, 36)),
            ],
        ),
        (
            "github-fine-grained-pat",
            format!("github_pat_{}_{}", r(11, ALNUM, 22), r(12, ALNUM, 59)),
            vec![format!("github_pat_{}", r(11, ALNUM, 22))],
        ),
        (
            "github-oauth-token",
            format!("gho_{}", r(13, ALNUM, 36)),
            vec![format!("gho_{}", r(13, ALNUM, 12))],
        ),
        (
            "github-app-token",
            format!("ghs_{}", r(14, ALNUM, 36)),
            vec![format!("ghx_{}", r(14, ALNUM, 36))],
        ),
        (
            "github-refresh-token",
            format!("ghr_{}", r(15, ALNUM, 76)),
            vec![format!("ghr_{}", r(15, ALNUM, 20))],
        ),
        (
            "gitlab-token",
            format!("GITLAB=glpat-{}", r(16, URLSAFE, 20)),
            vec![
                format!("GITLAB=glpat-{}", r(16, URLSAFE, 12)),
                format!("GITLAB=glpat_{}", r(16, ALNUM, 20)),
            ],
        ),
        (
            "gitlab-runner-registration-token",
            format!("GR1348941{}", r(17, URLSAFE, 20)),
            vec![format!("GR1348941{}", r(17, URLSAFE, 8))],
        ),
        (
            "slack-token",
            format!("xoxb-{}-{}-{}", r(18, "0123456789", 12), r(19, "0123456789", 13), r(20, ALNUM, 24)),
            vec![format!("xoxb-{}", r(18, LETTERS, 12)), "xoxb-your-token-here".to_string()],
        ),
        (
            "slack-config-token",
            format!("xoxe.xoxp-1-{}", r(21, ALNUM, 140)),
            vec![format!("xoxe.xoxp-1-{}", r(21, ALNUM, 10))],
        ),
        (
            "slack-app-token",
            format!("xapp-1-A{}-{}-{}", r(22, UPPER32, 9), r(23, "0123456789", 13), r(24, HEX, 64)),
            vec![format!("xapp-1-{}", r(22, LETTERS, 9))],
        ),
        (
            "slack-webhook-url",
            format!(
                "url = \"https://hooks.slack.com/services/T{}/B{}/{}\"",
                r(25, UPPER32, 8),
                r(26, UPPER32, 8),
                r(27, ALNUM, 24)
            ),
            vec!["see https://hooks.slack.com/services/ for docs".to_string()],
        ),
        (
            "stripe-secret-key",
            format!("stripe.api_key = sk_live_{}", r(28, ALNUM, 24)),
            vec![
                format!("stripe.pk = pk_live_{}", r(28, ALNUM, 24)),
                format!("sk_live_{}", r(28, ALNUM, 10)),
            ],
        ),
        (
            "stripe-webhook-secret",
            format!("WEBHOOK=whsec_{}", r(29, ALNUM, 32)),
            vec![format!("WEBHOOK=whsec_{}", r(29, ALNUM, 16))],
        ),
        (
            "shopify-token",
            format!("shpat_{}", r(30, HEX, 32)),
            vec![format!("shpat_{}", r(30, LETTERS, 32))],
        ),
        (
            "private-key",
            format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
                r(31, B64, 70),
                r(32, B64, 70)
            ),
            vec![
                format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", r(31, B64, 64)),
                "-----BEGIN RSA PRIVATE KEY-----\n<paste your key here>\n-----END RSA PRIVATE KEY-----\n"
                    .to_string(),
                "// load the private key from disk\n".to_string(),
            ],
        ),
        (
            "putty-private-key",
            format!(
                "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{}\n",
                r(33, B64, 64),
                r(34, B64, 20),
                r(35, B64, 44)
            ),
            vec!["PuTTY-User-Key-File-3: see the PuTTY manual\n".to_string()],
        ),
        (
            "age-secret-key",
            format!("AGE-SECRET-KEY-1{}", r(36, BECH32, 58)),
            vec![format!("AGE-SECRET-KEY-1{}", r(36, BECH32, 40))],
        ),
        (
            "anthropic-api-key",
            format!("ANTHROPIC_API_KEY=sk-ant-api03-{}AA", r(37, URLSAFE, 93)),
            vec![
                "ANTHROPIC_API_KEY=sk-ant-api03-xxxx".to_string(),
                format!("sk-ant-{}", r(37, URLSAFE, 20)),
            ],
        ),
        (
            "openai-api-key",
            format!("OPENAI_API_KEY=sk-proj-{}T3BlbkFJ{}", r(38, URLSAFE, 74), r(39, URLSAFE, 74)),
            vec![format!("sk-{}", r(38, URLSAFE, 20)), "sk-proj-abc".to_string()],
        ),
        (
            "huggingface-token",
            format!("HF_TOKEN=hf_{}", r(40, LETTERS, 34)),
            vec![format!("hf_{}", r(40, LETTERS, 20)), "hf_hub_download(repo)".to_string()],
        ),
        (
            "npm-access-token",
            format!("npm_{}", r(41, ALNUM, 36)),
            vec!["npm_config_registry=https://registry.npmjs.org/".to_string()],
        ),
        (
            "npmrc-auth-token",
            format!("//registry.npmjs.org/:_authToken={}", r(42, HEX, 36)),
            vec!["//registry.npmjs.org/:_authToken=${NPM_TOKEN}".to_string()],
        ),
        (
            "pypi-token",
            format!("password = pypi-AgEIcHlwaS5vcmc{}", r(43, URLSAFE, 70)),
            vec!["pypi-AgEIcHlwaS5vcmc".to_string()],
        ),
        (
            "postman-api-key",
            format!("PMAK-{}-{}", r(44, HEX, 24), r(45, HEX, 34)),
            vec![format!("PMAK-{}", r(44, HEX, 24))],
        ),
        (
            "linear-api-key",
            format!("lin_api_{}", r(46, ALNUM, 40)),
            vec![format!("lin_api_{}", r(46, ALNUM, 20))],
        ),
        (
            "jwt",
            format!(
                "Authorization: Bearer eyJ{}.eyJ{}.{}",
                r(47, URLSAFE, 30),
                r(48, URLSAFE, 60),
                r(49, URLSAFE, 43)
            ),
            vec![format!("eyJ{}.eyJ{}.", r(47, URLSAFE, 30), r(48, URLSAFE, 60))],
        ),
        (
            "url-credentials",
            format!("DATABASE_URL=postgres://app:{}@db.internal:5432/app", r(50, ALNUM, 20)),
            vec![
                "postgres://app:password@localhost/app".to_string(),
                "postgres://app:${DB_PASSWORD}@localhost/app".to_string(),
                "https://example.com:8443/path".to_string(),
            ],
        ),
        (
            "generic-secret-assignment",
            format!("client_secret = \"{}\"", r(51, ALNUM, 32)),
            vec![
                "password = \"hunter2hunter2hunter2\"".to_string(),
                "token = os.environ.get_the_value".to_string(),
                "secret_key = settings.SECRET_KEY_FROM_ENV".to_string(),
                "api_key = \"your-api-key-goes-here-1\"".to_string(),
                "tokenizer = AutoTokenizer.from_pretrained(name)".to_string(),
                "password: ${DB_PASSWORD_1234567890}".to_string(),
                "token = getTokenFromEnvironmentValue".to_string(),
                "secret: SECRET_KEY_BASE_VALUE_HERE".to_string(),
                "password = \"ThisIsNotARealPassword\"".to_string(),
                "api_key = \"changeme-in-production-2024\"".to_string(),
            ],
        ),
    ]
}

#[test]
fn every_family_has_a_true_positive() {
    let s = scanner();
    for (rule, positive, _) in cases() {
        let hit = rules_hit(&s, &positive);
        assert!(
            hit.iter().any(|h| h == rule),
            "{rule} missed {positive:?}; got {hit:?}"
        );
    }
}

/// More shapes a family must catch: other prefixes, and values built to slip past the catch-all.
fn more_true_positives() -> Vec<(&'static str, String)> {
    vec![
        (
            "github-app-token",
            format!("GH_TOKEN=ghu_{}", rnd(80, ALNUM, 36)),
        ),
        (
            "generic-secret-assignment",
            format!("client_secret = \"{}\"", rnd(81, LETTERS, 24)),
        ),
        (
            "generic-secret-assignment",
            format!("api_key = \"example_{}\"", rnd(82, ALNUM, 24)),
        ),
        (
            "generic-secret-assignment",
            format!("password: {}DUMMY", rnd(83, ALNUM, 20)),
        ),
    ]
}

#[test]
fn more_shapes_are_caught() {
    let s = scanner();
    for (rule, positive) in more_true_positives() {
        let hit = rules_hit(&s, &positive);
        assert!(
            hit.iter().any(|h| h == rule),
            "{rule} missed {positive:?}; got {hit:?}"
        );
    }
}

#[test]
fn utf16_files_are_decoded_and_keep_line_numbers() {
    let s = scanner();
    let token = format!("ghp_{}", rnd(84, ALNUM, 36));
    let text = format!("first\r\nsecond\r\nTOKEN={token}\r\n");
    for bom in [true, false] {
        for little_endian in [true, false] {
            let mut blob = Vec::new();
            let units = bom
                .then_some(0xFEFF_u16)
                .into_iter()
                .chain(text.encode_utf16());
            for u in units {
                blob.extend_from_slice(&if little_endian {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                });
            }
            let f = s.scan_blob(Some("secrets.txt"), None, &blob);
            assert_eq!(f.len(), 1, "bom={bom} le={little_endian}: {f:?}");
            assert_eq!(f[0].rule, "github-pat");
            assert_eq!(f[0].line, Some(3));
        }
    }
}

#[test]
fn near_misses_stay_clean() {
    let s = scanner();
    for (rule, _, negatives) in cases() {
        for n in negatives {
            let hit = rules_hit(&s, &n);
            assert!(
                hit.is_empty(),
                "{rule}: near miss {n:?} was flagged by {hit:?}"
            );
        }
    }
}

#[test]
fn every_built_in_rule_is_tested() {
    let s = scanner();
    let tested: Vec<&str> = cases().iter().map(|c| c.0).collect();
    for id in s.rule_ids() {
        assert!(tested.contains(&id), "built-in rule {id} has no test case");
    }
}

#[test]
fn findings_carry_line_and_length_but_never_the_secret() {
    let s = scanner();
    let token = format!("ghp_{}", rnd(60, ALNUM, 36));
    let text = format!("one\ntwo\nlet t = \"{token}\";\n");
    let findings = s.scan_blob(Some("a.rs"), None, text.as_bytes());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].line, Some(3));
    assert_eq!(findings[0].secret_len, 40);
    let json = serde_json::to_string(&findings).unwrap();
    assert!(!json.contains(&token[4..12]), "{json}");
}

#[test]
fn secrets_inside_binary_blobs_are_found_without_lines() {
    let s = scanner();
    let mut blob = vec![0u8, 159, 146, 150, 0];
    blob.extend_from_slice(format!("ghp_{}", rnd(61, ALNUM, 36)).as_bytes());
    blob.extend_from_slice(&[0, 1, 2, 3]);
    let findings = s.scan_blob(Some("logo.png"), None, &blob);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].line, None);
}

#[test]
fn keywords_are_case_insensitive_and_lines_may_be_huge() {
    let s = scanner();
    let mut line = "x".repeat(2_000_000);
    line.push_str(&format!(
        " GHP_ not a token, but ghp_{} is",
        rnd(62, ALNUM, 36)
    ));
    line.push_str(&"y".repeat(1_000_000));
    let findings = s.scan_blob(Some("min.js"), None, line.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
}

#[test]
fn never_panics_on_hostile_bytes() {
    let s = scanner();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    for round in 0..200 {
        let len = (round * 97) % 5000;
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push((x >> 24) as u8);
        }
        if round % 3 == 0 {
            bytes.extend_from_slice("token = \u{202e}\u{fffd}\u{1F600}ghp_\u{0}".as_bytes());
            bytes.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]);
        }
        let _ = s.scan_blob(Some("r.bin"), None, &bytes);
        let _ = s.scan(&Target {
            path: None,
            commit: None,
            content: &bytes,
        });
    }
    let _ = s.scan_blob(None, None, b"");
    let _ = s.scan_blob(
        None,
        None,
        "-----BEGIN PRIVATE KEY-----".repeat(10_000).as_bytes(),
    );
    let _ = s.scan_blob(None, None, "token=".repeat(100_000).as_bytes());
}

#[test]
fn findings_per_target_are_capped() {
    let s = scanner();
    let text: String = (0..500)
        .map(|i| format!("ghp_{}\n", rnd(100 + i, ALNUM, 36)))
        .collect();
    let findings = s.scan_blob(None, None, text.as_bytes());
    assert_eq!(findings.len(), MAX_FINDINGS_PER_TARGET);
}

#[test]
fn private_keys_are_found_in_json_and_code_strings() {
    let s = scanner();
    let body = rnd(70, B64, 64);
    let json = format!(
        "{{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n\"}}"
    );
    assert!(
        rules_hit(&s, &json).contains(&"private-key".to_string()),
        "{json}"
    );
    let code = format!("KEY = (\"-----BEGIN RSA PRIVATE KEY-----\\n\"\n       \"{body}\\n\")\n");
    assert!(
        rules_hit(&s, &code).contains(&"private-key".to_string()),
        "{code}"
    );
    let encrypted = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{}\n\n{body}\n",
        rnd(71, HEX, 32)
    );
    assert!(rules_hit(&s, &encrypted).contains(&"private-key".to_string()));
}
