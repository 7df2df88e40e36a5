//! Loading `muse.toml`: every bad file in tests/fixtures/config stops with one exact message.

use std::path::{Path, PathBuf};

use muse::config::{self, Config, Override};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config").join(name)
}

/// The error for a fixture, with the fixture folder's path cut off the front.
fn error_of(name: &str) -> String {
    let path = fixture(name);
    let error = config::load(Some(&path), &[]).expect_err("the fixture is invalid").to_string();
    error.replace(path.parent().unwrap().to_str().unwrap(), "fixtures")
}

#[test]
fn an_unknown_key_suggests_the_nearest() {
    assert_eq!(
        error_of("unknown-key.toml"),
        "fixtures/unknown-key.toml:2:1: unknown key \"temprature\" in [sample], did you mean \"temperature\"?"
    );
}

#[test]
fn an_unknown_section_suggests_the_nearest() {
    assert_eq!(
        error_of("unknown-section.toml"),
        "fixtures/unknown-section.toml:2:2: unknown section [smaple], did you mean [sample]?"
    );
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    assert_eq!(
        error_of("wrong-type.toml"),
        "fixtures/wrong-type.toml:2:14: [train] batch_size must be a whole number from 1 to 65536, found the string \"32\""
    );
}

#[test]
fn an_out_of_range_value_gives_the_range() {
    assert_eq!(
        error_of("out-of-range.toml"),
        "fixtures/out-of-range.toml:3:15: [sample] temperature must be a number from 0 to 10, found -1"
    );
}

#[test]
fn an_unknown_choice_lists_the_choices() {
    assert_eq!(
        error_of("unknown-choice.toml"),
        "fixtures/unknown-choice.toml:2:8: [model] kind must be one of \"lstm\", \"gpt\", \"vae\", found the string \"transformer\""
    );
}

#[test]
fn keys_that_contradict_each_other_are_refused() {
    assert_eq!(
        error_of("min-lr-above-lr.toml"),
        "fixtures/min-lr-above-lr.toml:3:10: [train] min_lr (0.01) must not be above lr (0.001)"
    );
}

#[test]
fn broken_toml_names_the_place() {
    assert_eq!(
        error_of("broken-syntax.toml"),
        "fixtures/broken-syntax.toml:2:19: invalid TOML: unclosed array, expected `]`"
    );
}

#[test]
fn zero_steps_is_out_of_range() {
    assert_eq!(
        error_of("zero-steps.toml"),
        "fixtures/zero-steps.toml:2:13: [train] max_steps must be a whole number from 1 to 100000000, found 0"
    );
}

#[test]
fn paths_must_be_a_list() {
    assert_eq!(
        error_of("paths-not-a-list.toml"),
        "fixtures/paths-not-a-list.toml:2:9: [corpus] paths must be a list of non-empty strings, like [\"corpora\"], found the string \"corpora\""
    );
}

#[test]
fn a_key_outside_any_section_is_refused() {
    assert_eq!(
        error_of("top-level-key.toml"),
        "fixtures/top-level-key.toml:1:1: \"seed\" must be inside a section: [train] or [sample]"
    );
}

#[test]
fn no_file_gives_the_defaults() {
    assert_eq!(config::load(None, &[]).unwrap(), Config::default());
}

#[test]
fn flags_override_the_file_and_are_checked_too() {
    let text = "[sample]\ntemperature = 0.5\n";
    let flag = Override::new("--temperature", "sample", "temperature", toml::Value::Float(1.2));
    let config = config::load_str(text, "muse.toml", &[flag]).unwrap();
    assert_eq!(config.sample.temperature, 1.2);

    let bad = Override::new("--top-p", "sample", "top_p", toml::Value::Float(1.5));
    let error = config::load_str(text, "muse.toml", &[bad]).unwrap_err().to_string();
    assert_eq!(error, "--top-p must be a number above 0 and at most 1, found 1.5");
}

#[test]
fn a_contradiction_made_by_a_flag_names_the_flag() {
    let flag = Override::new("--lr", "train", "lr", toml::Value::Float(1e-5));
    let error = config::load_str("", "muse.toml", &[flag]).unwrap_err().to_string();
    assert_eq!(error, "default config: [train] min_lr (0.0002) must not be above lr (0.00001)");
}

#[test]
fn the_init_template_loads_back_as_the_defaults() {
    let template = config::commented_template();
    let loaded = config::load_str(&template, "muse.toml", &[]).unwrap();
    assert_eq!(loaded, Config::default().resolved());
    assert!(template.contains("# seed = 42"), "optional keys are shown commented out");
}

#[test]
fn every_schema_key_is_a_config_field_and_back() {
    let defaults = toml::Table::try_from(Config::default().resolved()).unwrap();
    for key in config::schema::KEYS {
        let section = defaults[key.section].as_table().unwrap();
        assert!(
            section.contains_key(key.name) || key.example.is_some(),
            "[{}] {} is in the schema but not in Config",
            key.section,
            key.name
        );
    }
    for (section, keys) in &defaults {
        for name in keys.as_table().unwrap().keys() {
            assert!(
                config::schema::find(section, name).is_some(),
                "[{section}] {name} is not in the schema"
            );
        }
    }
}
