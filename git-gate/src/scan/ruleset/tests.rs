use super::*;
use crate::scan::Scanner;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load_err(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "rules.toml", text);
    let e = RuleSet::load(&p, false).unwrap_err().to_string();
    e.replace(&p.display().to_string(), "rules.toml")
}

/// A scanner with only the rules in `text`, written to a file and loaded without the pack.
fn scanner(text: &str) -> Scanner {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "rules.toml", text);
    Scanner::new(RuleSet::load(&p, false).unwrap()).unwrap()
}

fn ids(set: &RuleSet) -> Vec<&str> {
    set.rules.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn builtin_pack_parses() {
    let set = RuleSet::builtin().unwrap();
    assert!(set.rules.len() >= 30);
    assert!(
        set.rules.iter().all(|r| !r.keywords.is_empty()),
        "every built-in rule is keyworded"
    );
}

#[test]
fn operator_rules_replace_or_extend_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "rules.toml",
        "title = \"acme\"\n[[rules]]\nid = \"acme-key\"\ndescription = \"Acme key\"\nregex = '''acme_[a-z0-9]{16}'''\nkeywords = [\"ACME_\"]\ntags = [\"x\"]\n",
    );
    let alone = RuleSet::load(&p, false).unwrap();
    assert_eq!(ids(&alone), ["acme-key"]);
    assert_eq!(alone.rules[0].keywords, ["acme_"]);
    let both = RuleSet::load(&p, true).unwrap();
    assert!(ids(&both).contains(&"acme-key") && ids(&both).contains(&"github-pat"));
}

#[test]
fn extend_use_default_and_disabled_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "rules.toml",
        "[extend]\nuseDefault = true\ndisabledRules = [\"jwt\"]\n[[rules]]\nid = \"github-pat\"\ndescription = \"overridden\"\n[[rules.allowlists]]\nregexes = ['''^ghp_0''']\n",
    );
    let set = RuleSet::load(&p, false).unwrap();
    assert!(!ids(&set).contains(&"jwt"));
    let pat = set.rules.iter().find(|r| r.id == "github-pat").unwrap();
    assert_eq!(pat.description, "overridden");
    assert!(pat.regex.is_some(), "regex kept from the base rule");
    assert_eq!(pat.allowlists.len(), 1);
}

#[test]
fn extend_path_chains_relative_files_with_a_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.toml",
        "[[rules]]\nid = \"base\"\nregex = 'b[0-9]{8}'\nkeywords = ['b']\n",
    );
    let p = write(
        dir.path(),
        "top.toml",
        "[extend]\npath = \"base.toml\"\n[[rules]]\nid = \"top\"\nregex = 't[0-9]{8}'\n",
    );
    let set = RuleSet::load(&p, false).unwrap();
    assert_eq!(ids(&set), ["base", "top"]);
    let loop_path = write(dir.path(), "loop.toml", "[extend]\npath = \"loop.toml\"\n");
    let e = RuleSet::load(&loop_path, false).unwrap_err().to_string();
    assert!(e.contains("chains more than 2 files"), "{e}");
}

#[test]
fn errors_name_file_line_and_column() {
    let e = load_err("[[rules]]\nid = \"x\"\nregx = 'a'\n");
    assert!(
        e.starts_with("rules.toml:3:1: unknown key `regx` (did you mean `regex`?)"),
        "{e}"
    );
    let e = load_err("[[rules]]\nid = \"x\"\nregex = '''a(b'''\n");
    assert!(
        e.starts_with("rules.toml:3:9: rule `x` regex does not compile: unclosed group"),
        "{e}"
    );
    let e = load_err("[[rules]]\nid = \"x\"\nregex = 'a(b)'\nsecretGroup = 3\n");
    assert!(
        e.starts_with("rules.toml:2:6: rule `x`: secretGroup 3 does not exist"),
        "{e}"
    );
    let e = load_err("[[rules]]\nid = \"x\"\n");
    assert!(
        e.contains("rules.toml:2:6: rule `x` has neither `regex` nor `path`"),
        "{e}"
    );
    let e = load_err("[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules]]\nid = \"x\"\nregex = 'b'\n");
    assert!(
        e.starts_with("rules.toml:5:6: rule id `x` is defined twice"),
        "{e}"
    );
    let e = load_err(
        "[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules.allowlists]]\ncondition = \"XOR\"\nregexes = ['a']\n",
    );
    assert!(
        e.starts_with("rules.toml:5:13: unknown allowlist condition `XOR`"),
        "{e}"
    );
    let e = load_err(
        "[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules.allowlists]]\ndescription = 'nothing'\n",
    );
    assert!(e.contains("it would allow nothing"), "{e}");
    let e = load_err("[[rules]]\nid = \"x\"\nregex = 'a'\nrequired = [{id = 'y'}]\n");
    assert!(
        e.contains("composite rules (`required`) are not supported"),
        "{e}"
    );
    let e = load_err("[[allowlists]]\ntargetRules = ['nope']\nregexes = ['a']\n");
    assert!(
        e.starts_with("rules.toml:2:15: [[allowlists]] targetRules names `nope`"),
        "{e}"
    );
    let e = load_err("[[rules]\n");
    assert!(e.starts_with("rules.toml:1:"), "{e}");
    let e = load_err("[extend]\nuseDefault = true\npath = 'x.toml'\n");
    assert!(e.contains("both `useDefault` and `path`"), "{e}");
}

#[test]
fn global_allowlists_in_both_spellings() {
    let s = scanner(
        "[[rules]]\nid = 'k'\nregex = 'key_[0-9]{6}'\nkeywords = ['key_']\n[allowlist]\npaths = ['''^vendor/''']\n",
    );
    assert_eq!(s.scan_blob(Some("src/a"), None, b"key_123456").len(), 1);
    assert!(
        s.scan_blob(Some("vendor/a"), None, b"key_123456")
            .is_empty()
    );
    let s = scanner(
        "[[rules]]\nid = 'k'\nregex = 'key_[0-9]{6}'\n[[rules]]\nid = 'j'\nregex = 'jey_[0-9]{6}'\n[[allowlists]]\ntargetRules = ['k']\nregexTarget = 'line'\nregexes = ['ok-here']\n",
    );
    assert!(s.scan_blob(None, None, b"key_123456 ok-here").is_empty());
    assert_eq!(s.scan_blob(None, None, b"jey_123456 ok-here").len(), 1);
}

#[test]
fn path_only_rules_and_secret_groups() {
    let s = scanner(
        "[[rules]]\nid = 'ssh-key-file'\npath = '''(^|/)id_(rsa|ed25519)$'''\n[[rules]]\nid = 'pw'\nregex = '''pw=([a-z]+)-([0-9]+)'''\nsecretGroup = 2\nentropy = 1.0\n",
    );
    let f = s.scan_blob(Some("home/.ssh/id_ed25519"), None, b"anything");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "ssh-key-file");
    let f = s.scan_blob(None, None, b"pw=abc-1234");
    assert_eq!(f[0].secret_len, 4);
    assert!(
        s.scan_blob(None, None, b"pw=abc-1111").is_empty(),
        "entropy 0 is not above 1.0"
    );
}

#[test]
fn disabled_rules_apply_to_the_pack_extend_default_adds() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "rules.toml",
        "[extend]\ndisabledRules = [\"jwt\"]\n[[rules]]\nid = \"acme\"\nregex = 'acme_[0-9]{8}'\n",
    );
    let set = RuleSet::load(&p, true).unwrap();
    assert!(!ids(&set).contains(&"jwt"), "{:?}", ids(&set));
    assert!(ids(&set).contains(&"github-pat") && ids(&set).contains(&"acme"));
    let e = RuleSet::load(&p, false).unwrap_err().to_string();
    assert!(
        e.contains("rules.toml:2:18: [extend] disabledRules names `jwt`, which is not a rule"),
        "{e}"
    );
    let e = load_err("[extend]\nuseDefault = true\ndisabledRules = [\"jwt\", \"gihtub-pat\"]\n");
    assert!(
        e.starts_with("rules.toml:3:25: [extend] disabledRules names `gihtub-pat`"),
        "{e}"
    );
    write(
        dir.path(),
        "base.toml",
        "[[rules]]\nid = \"a\"\nregex = 'a_[0-9]{8}'\n[[rules]]\nid = \"b\"\nregex = 'b_[0-9]{8}'\n",
    );
    let top = write(
        dir.path(),
        "top.toml",
        "[extend]\npath = \"base.toml\"\ndisabledRules = [\"a\"]\n",
    );
    assert_eq!(ids(&RuleSet::load(&top, false).unwrap()), ["b"]);
}

#[test]
fn a_path_limits_a_content_rule() {
    let s = scanner(
        "[[rules]]\nid = 'env-pw'\nregex = '''PW=([a-z0-9]{8})'''\npath = '''\\.env$'''\nkeywords = ['pw=']\n",
    );
    assert_eq!(s.scan_blob(Some("prod.env"), None, b"PW=abcd1234").len(), 1);
    assert!(
        s.scan_blob(Some("prod.txt"), None, b"PW=abcd1234")
            .is_empty()
    );
    assert!(
        s.scan_blob(None, None, b"PW=abcd1234").is_empty(),
        "a path-limited rule does not apply to content without a path"
    );
}

#[test]
fn commit_allowlists_allow_only_the_named_commits() {
    let allowed = "0123456789abcdef0123456789abcdef01234567";
    let s = scanner(&format!(
        "[[rules]]\nid = 'k'\nregex = 'key_[0-9]{{6}}'\nkeywords = ['key_']\n[[rules.allowlists]]\ncommits = ['{}']\n",
        allowed.to_uppercase()
    ));
    assert!(
        s.scan_blob(Some("a"), Some(allowed), b"key_123456")
            .is_empty()
    );
    let other = "1123456789abcdef0123456789abcdef01234567";
    assert_eq!(s.scan_blob(Some("a"), Some(other), b"key_123456").len(), 1);
    assert_eq!(s.scan_blob(Some("a"), None, b"key_123456").len(), 1);
}

#[test]
fn digit_free_words_is_a_valid_allowlist_on_its_own() {
    let s = scanner(
        "[[rules]]\nid = 'pw'\nregex = '''pw=([A-Za-z0-9]{12,})'''\n[[rules.allowlists]]\ndigitFreeWords = true\n",
    );
    assert!(
        s.scan_blob(None, None, b"pw=readFromEnvironment")
            .is_empty()
    );
    assert_eq!(s.scan_blob(None, None, b"pw=qZxKvbTrwLmnPsdf").len(), 1);
}

#[test]
fn disabled_rules_reach_the_pack_under_an_extended_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.toml",
        "[[rules]]\nid = \"a\"\nregex = 'a_[0-9]{8}'\n[[rules]]\nid = \"b\"\nregex = 'b_[0-9]{8}'\n",
    );
    let top = write(
        dir.path(),
        "top.toml",
        "[extend]\npath = \"base.toml\"\ndisabledRules = [\"jwt\", \"a\"]\n",
    );
    let set = RuleSet::load(&top, true).unwrap();
    assert!(
        !ids(&set).contains(&"jwt") && !ids(&set).contains(&"a"),
        "{:?}",
        ids(&set)
    );
    assert!(ids(&set).contains(&"github-pat") && ids(&set).contains(&"b"));
    let e = RuleSet::load(&top, false).unwrap_err().to_string();
    assert!(
        e.contains("top.toml:3:18: [extend] disabledRules names `jwt`, which is not a rule"),
        "{e}"
    );
}

#[test]
fn disabled_rules_reach_an_extended_file_that_disables_too() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.toml",
        "[extend]\ndisabledRules = [\"jwt\"]\n[[rules]]\nid = \"a\"\nregex = 'a_[0-9]{8}'\n[[rules]]\nid = \"b\"\nregex = 'b_[0-9]{8}'\n",
    );
    let top = write(
        dir.path(),
        "top.toml",
        "[extend]\npath = \"base.toml\"\ndisabledRules = [\"a\", \"github-pat\"]\n",
    );
    let set = RuleSet::load(&top, true).unwrap();
    for gone in ["jwt", "a", "github-pat"] {
        assert!(!ids(&set).contains(&gone), "{gone}: {:?}", ids(&set));
    }
    assert!(
        ids(&set).contains(&"b") && ids(&set).contains(&"aws-access-key-id")
            || ids(&set).contains(&"b")
    );
    let e = RuleSet::load(&top, false).unwrap_err().to_string();
    assert!(
        e.contains("base.toml:2:18: [extend] disabledRules names `jwt`, which is not a rule"),
        "{e}"
    );
}
