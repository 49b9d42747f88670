//! Loading files and folders.

use std::fs;
use std::path::PathBuf;

use nightshift_scenario::{ScenarioError, load_file, load_paths};

fn scenario(name: &str) -> String {
    format!("name: {name}\nexpect:\n  detect: false\n")
}

#[test]
fn a_file_loads_and_errors_name_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = dir.path().join("good.yaml");
    fs::write(&good, scenario("good")).unwrap_or_else(|e| panic!("{e}"));
    let loaded = load_file(&good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.name, "good");

    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "name: bad\nexpect:\n  detect: maybe\n").unwrap_or_else(|e| panic!("{e}"));
    let message = load_file(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with(&format!("{}: expect.detect: ", bad.display())),
        "{message}"
    );
    assert!(message.contains("at line 3 column 11"), "{message}");
}

#[test]
fn a_missing_file_is_a_read_error() {
    let path = PathBuf::from("/nonexistent/nightshift/scenario.yaml");
    let err = load_file(&path).err();
    assert!(matches!(err, Some(ScenarioError::Read { .. })), "{err:?}");
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message
            .starts_with("/nonexistent/nightshift/scenario.yaml: unable to read the scenario file"),
        "{message}"
    );
}

#[test]
fn folders_contribute_their_yaml_files_sorted() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("b.yaml"), scenario("bravo")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("a.yml"), scenario("alpha")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("notes.txt"), "not a scenario").unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir(dir.path().join("nested")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("nested/c.yaml"), scenario("charlie"))
        .unwrap_or_else(|e| panic!("{e}"));
    let extra = dir.path().join("nested/c.yaml");

    let loaded = load_paths(&[dir.path().to_path_buf(), extra]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = loaded.iter().map(|(_, s)| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "bravo", "charlie"]);
    assert!(loaded[0].0.ends_with("a.yml"));
}

#[test]
fn an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err = load_paths(&[dir.path().to_path_buf()]).err();
    assert!(
        matches!(err, Some(ScenarioError::EmptyFolder { .. })),
        "{err:?}"
    );
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .ends_with("no scenario files (*.yaml, *.yml) in the folder")
    );
}

#[test]
fn names_are_unique_across_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("a.yaml"), scenario("same")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        dir.path().join("b.yaml"),
        format!("# a copy\n{}", scenario("same")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let message = load_paths(&[dir.path().to_path_buf()])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let b = dir.path().join("b.yaml");
    let a = dir.path().join("a.yaml");
    assert_eq!(
        message,
        format!(
            "{}: name: scenario name `same` is already used by {} at line 2 column 1",
            b.display(),
            a.display()
        )
    );
}
