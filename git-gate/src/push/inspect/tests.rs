//! Inspection of commits built directly in a scratch repository.

use git2::{Oid, Repository, Signature};

use super::{Inspection, inspect_push};
use crate::push::report::RefUpdate;
use crate::scan::Scanner;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init_bare(dir.path()).unwrap();
    (dir, repo)
}

/// A path and its content.
type File<'a> = (&'a str, &'a [u8]);

/// A tree holding `files` (`a/b` paths make subtrees).
fn tree(repo: &Repository, files: &[File<'_>]) -> Oid {
    let mut here = repo.treebuilder(None).unwrap();
    let mut dirs: Vec<(&str, Vec<File<'_>>)> = Vec::new();
    for &(path, content) in files {
        match path.split_once('/') {
            None => {
                let blob = repo.blob(content).unwrap();
                here.insert(path, blob, 0o100644).unwrap();
            }
            Some((dir, rest)) => match dirs.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, inner)) => inner.push((rest, content)),
                None => dirs.push((dir, vec![(rest, content)])),
            },
        }
    }
    for (dir, inner) in dirs {
        here.insert(dir, tree(repo, &inner), 0o040000).unwrap();
    }
    here.write().unwrap()
}

fn commit(repo: &Repository, files: &[File<'_>], parents: &[Oid]) -> Oid {
    let sig = Signature::new("t", "t@example.com", &git2::Time::new(0, 0)).unwrap();
    let tree = repo.find_tree(tree(repo, files)).unwrap();
    let parents: Vec<_> = parents
        .iter()
        .map(|&p| repo.find_commit(p).unwrap())
        .collect();
    let parents: Vec<_> = parents.iter().collect();
    repo.commit(None, &sig, &sig, "change", &tree, &parents)
        .unwrap()
}

fn inspect(repo: &Repository, tip: Oid) -> Result<Inspection, git2::Error> {
    let update = RefUpdate {
        name: "refs/heads/main".into(),
        old: "0".repeat(40),
        new: tip.to_string(),
    };
    let scanner = Scanner::load(None, true).unwrap();
    inspect_push(repo, &[update], &scanner, 1 << 20)
}

fn private_key() -> String {
    let b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = bottle_tests::fake::Rng::new(7);
    format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        rng.text(b64, 70),
        rng.text(b64, 70)
    )
}

#[test]
fn a_changed_file_is_read_whole_again_only_for_a_multi_line_keyword() {
    let bytes = |line: &[u8]| {
        let (_dir, repo) = repo();
        let first = commit(&repo, &[("notes.txt", b"hello\n")], &[]);
        let second = commit(
            &repo,
            &[("notes.txt", &[b"hello\n", line].concat())],
            &[first],
        );
        inspect(&repo, second).unwrap().bytes
    };
    let with = bytes(b"private key\n");
    let without = bytes(b"private_kez\n");
    assert_eq!(with - without, 18, "the whole new version, once");
}

#[test]
fn a_merge_parent_holding_a_directory_at_the_path_is_no_earlier_version() {
    let (_dir, repo) = repo();
    let base = commit(&repo, &[("README", b"hi\n")], &[]);
    let ours = commit(&repo, &[("README", b"hi\n"), ("k", b"x = 1\n")], &[base]);
    let theirs = commit(&repo, &[("README", b"hi\n"), ("k/inner", b"y\n")], &[base]);
    let key = format!("x = 1\n{}", private_key());
    let merge = commit(
        &repo,
        &[("README", b"hi\n"), ("k", key.as_bytes())],
        &[ours, theirs],
    );
    let ins = inspect(&repo, merge).expect("a tree at the path in a parent is no error");
    let rules: Vec<_> = ins
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.location.as_str()))
        .collect();
    assert_eq!(rules, [("private-key", "k")]);
}
