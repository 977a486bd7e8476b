use super::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEu2h7EDm3qMK1urEpMmMkhx3Z5rCc8CSiYwZ2jeJx/x";

fn good() -> String {
    format!(
        "listen: 0.0.0.0:9418
data_dir: /var/lib/git-gate
audit_log: /var/log/git-gate/audit.jsonl
scanner:
  rules: /etc/git-gate/rules.toml
  extend_default: true
repos:
  - name: app
    upstream: ssh://git@github.com:22/acme/app.git
    identity_file: /run/secrets/app_key
    known_host_key: \"{KEY}\"
    extra_hosts: {{ github.com: 140.82.112.3 }}
"
    )
}

fn errors(text: &str) -> String {
    parse_config(text, &Source::named("gate.yaml"))
        .unwrap_err()
        .to_string()
}

fn with_repo(fields: &str) -> String {
    format!("listen: 127.0.0.1:9418\ndata_dir: /d\nrepos:\n  - {fields}\n")
}

fn repo(name: &str, upstream: &str, key: &str) -> String {
    with_repo(&format!(
        "name: {name}\n    upstream: {upstream}\n    identity_file: /k\n    known_host_key: \"{key}\""
    ))
}

#[test]
fn issue_example_parses_and_resolves() {
    let config = parse_config(&good(), &Source::named("gate.yaml")).unwrap();
    let s = resolve(&config, &Source::named("gate.yaml"), None).unwrap();
    assert_eq!(s.listen, "0.0.0.0:9418".parse().unwrap());
    assert_eq!(s.repos.len(), 1);
    let r = &s.repos[0];
    assert_eq!(r.name, "app");
    assert_eq!(r.upstream.host, "github.com");
    assert_eq!(r.host_ip, Some("140.82.112.3".parse().unwrap()));
    assert_eq!(r.known_host_key.key_type, "ssh-ed25519");
    assert!(s.scanner.extend_default);
    assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS as usize);
    assert_eq!(s.max_push_bytes, DEFAULT_MAX_PUSH_BYTES);
    assert_eq!(s.timeouts, TimeoutSettings::default());
}

#[test]
fn built_in_code_round_trips_through_yaml() {
    let mut repo = RepoConfig::new(
        "app",
        "ssh://git@127.0.0.1:2222/srv/app.git",
        PathBuf::from("/run/secrets/app key"),
        KEY,
    );
    repo.extra_hosts = Some(unlocated(BTreeMap::from([(
        "127.0.0.1".to_string(),
        unlocated("127.0.0.1".to_string()),
    )])));
    let mut config = Config::new(
        "127.0.0.1:9418".parse().unwrap(),
        "/data".into(),
        vec![repo],
    );
    config.timeouts.scan = Some(unlocated(30));
    config.scanner.max_blob_bytes = Some(unlocated(4096));
    config.max_push_bytes = Some(unlocated(1 << 20));
    let yaml = config.to_yaml();
    let parsed = parse_config(&yaml, &Source::named("rendered")).unwrap();
    assert_eq!(parsed.to_yaml(), yaml);
    let s = resolve(&parsed, &Source::named("rendered"), None).unwrap();
    assert_eq!(s.timeouts.scan, Duration::from_secs(30));
    assert_eq!(s.scanner.max_blob_bytes, 4096);
    assert_eq!(s.max_push_bytes, 1 << 20);
    assert_eq!(
        s.repos[0].identity_file,
        PathBuf::from("/run/secrets/app key")
    );
}

#[test]
fn unknown_keys_are_located_with_a_hint() {
    let e = errors(&good().replace("extra_hosts", "extra_host"));
    assert!(
        e.starts_with("gate.yaml:12:5: unknown key `extra_host`"),
        "{e}"
    );
    assert!(e.contains("did you mean `extra_hosts`?"), "{e}");
    let e = errors(&good().replace("extend_default", "extends_default"));
    assert!(e.contains("gate.yaml:6:3:"), "{e}");
}

#[test]
fn bad_listen_is_located() {
    let e = errors(&good().replace("0.0.0.0:9418", "localhost"));
    assert!(
        e.starts_with("gate.yaml:1:9: listen: `localhost` is not a socket address"),
        "{e}"
    );
}

#[test]
fn repo_names_must_be_safe_path_components() {
    for (name, why) in [
        ("a/../x", "contains `/`"),
        (".hidden", "starts with `.`"),
        ("app.git", "ends in `.git`"),
        ("a%2e", "contains `%`"),
        ("\"a b\"", "contains ` `"),
        ("\"\"", "is empty"),
    ] {
        let e = errors(&repo(name, "ssh://h/r", KEY));
        assert!(e.starts_with("gate.yaml:4:11: repo name"), "{name}: {e}");
        assert!(e.contains(why), "{name}: {e}");
    }
    let long = "a".repeat(MAX_REPO_NAME + 1);
    assert!(errors(&repo(&long, "ssh://h/r", KEY)).contains("longer than"));
}

#[test]
fn duplicate_names_are_refused() {
    let text = format!(
        "listen: 127.0.0.1:1\ndata_dir: /d\nrepos:\n  - {{name: app, upstream: 'ssh://h/a', identity_file: /k, known_host_key: '{KEY}'}}\n  - {{name: App, upstream: 'ssh://h/b', identity_file: /k, known_host_key: '{KEY}'}}\n"
    );
    let e = errors(&text);
    assert!(
        e.starts_with("gate.yaml:5:12: repo name `App` is used twice"),
        "{e}"
    );
}

#[test]
fn upstream_and_key_errors_are_located() {
    let e = errors(&repo("app", "git@github.com:acme/app.git", KEY));
    assert!(e.starts_with("gate.yaml:5:15: upstream:"), "{e}");
    assert!(e.contains("ssh://git@github.com/acme/app.git"), "{e}");
    let e = errors(&repo("app", "ssh://h/r", "ssh-ed25519 nope"));
    assert!(e.starts_with("gate.yaml:7:21: known_host_key:"), "{e}");
}

#[test]
fn extra_hosts_values_must_be_ips_for_the_upstream_host() {
    let base = repo("app", "ssh://git@github.com/acme/app.git", KEY);
    let e = errors(&format!(
        "{base}    extra_hosts: {{ github.com: not-an-ip }}\n"
    ));
    assert!(
        e.contains("gate.yaml:8:32: extra_hosts: `not-an-ip`"),
        "{e}"
    );
    let e = errors(&format!(
        "{base}    extra_hosts: {{ gitlab.com: 10.0.0.1 }}\n"
    ));
    assert!(e.contains("not this repo's upstream host"), "{e}");
}

#[test]
fn every_error_is_reported_at_once() {
    let text = "listen: nope\ndata_dir: /d\ntimeouts: { scan: 0 }\nscanner: { max_blob_bytes: 1 }\nrepos:\n  - name: .x\n    upstream: http://x/y\n    identity_file: /k\n    known_host_key: 'ssh-ed25519'\n";
    let e = parse_config(text, &Source::named("g")).unwrap_err();
    assert_eq!(e.0.len(), 6, "{e}");
}

#[test]
fn empty_repos_and_stray_extend_default_are_refused() {
    let e = errors("listen: 127.0.0.1:1\ndata_dir: /d\nrepos: []\n");
    assert!(e.contains("no repos configured"), "{e}");
    let text =
        repo("app", "ssh://h/r", KEY).replace("repos:", "scanner: {extend_default: false}\nrepos:");
    assert!(errors(&text).contains("only applies together with scanner.rules"));
}

#[test]
fn relative_paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gate.yaml");
    let text = repo("app", "ssh://h/r", KEY)
        .replace("/d", "state")
        .replace("identity_file: /k", "identity_file: keys/app");
    std::fs::write(&path, text).unwrap();
    let s = load_settings(&path).unwrap();
    assert_eq!(s.data_dir, dir.path().join("state"));
    assert_eq!(s.repos[0].identity_file, dir.path().join("keys/app"));
}

#[test]
fn paths_with_quotes_or_controls_are_refused() {
    let text = repo("app", "ssh://h/r", KEY).replace("identity_file: /k", "identity_file: '/a\"b'");
    assert!(errors(&text).contains("identity_file: the path contains"));
}

#[test]
fn max_push_bytes_is_range_checked() {
    let e = errors(&format!(
        "max_push_bytes: 10\n{}",
        repo("app", "ssh://git@example.org/a.git", KEY)
    ));
    assert!(
        e.contains("gate.yaml:1:17: max_push_bytes: 10 is out of range"),
        "{e}"
    );
}
