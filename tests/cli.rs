//! The `muse` command as a user runs it: init, train, generate, and its error messages.

mod common;

use std::process::Output;

use common::muse;

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A project whose corpus is the bundled one and whose model is tiny.
fn small_project() -> std::path::PathBuf {
    let dir = common::scratch();
    let corpora = common::project_root().join("corpora");
    let config = format!(
        "[corpus]\npaths = [{corpora:?}]\n\n[model]\nlayers = 1\nhidden = 64\nembedding = 32\ncontext = 32\n\n\
         [train]\nbatch_size = 8\nmax_steps = 30\neval_every = 15\neval_batches = 2\ncheckpoint_every = 15\n"
    );
    std::fs::write(dir.join("muse.toml"), config).unwrap();
    dir
}

#[test]
fn init_writes_a_commented_config_and_never_overwrites_it() {
    let dir = common::scratch();
    let first = muse(&dir, &["init"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let written = std::fs::read_to_string(dir.join("muse.toml")).unwrap();
    assert!(written.contains("[sample]\n# Below 1 the text gets safer"));
    assert!(dir.join("corpora").is_dir());

    let second = muse(&dir, &["init"]);
    assert!(!second.status.success());
    assert!(stderr(&second).contains("muse.toml already exists; Muse leaves it as it is"));
    assert_eq!(std::fs::read_to_string(dir.join("muse.toml")).unwrap(), written);
}

#[test]
fn train_then_generate_prints_only_the_text_and_repeats_with_a_seed() {
    let dir = small_project();
    let train = muse(&dir, &["train", "--run", "tiny"]);
    assert!(train.status.success(), "{}", stderr(&train));
    assert_eq!(stdout(&train).trim(), dir.join("runs/tiny").display().to_string());
    for file in [
        "config.toml",
        "tokenizer.json",
        "metrics.jsonl",
        "train.log",
        "checkpoints/step-000030.safetensors",
    ] {
        assert!(dir.join("runs/tiny").join(file).is_file(), "{file} is missing");
    }

    let args =
        ["generate", "--run", "tiny", "--seed", "5", "--max-tokens", "60", "--prompt", "The"];
    let first = muse(&dir, &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(text.starts_with("The"), "{text}");
    assert_eq!(stdout(&muse(&dir, &args)), text);

    let three = stdout(&muse(&dir, &["generate", "--seed", "5", "-n", "3", "--max-tokens", "40"]));
    assert_eq!(three.matches("\n---\n").count(), 2, "{three}");

    let again = muse(&dir, &["train", "--run", "tiny"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("a run called \"tiny\" already exists"));
}

#[test]
fn an_unseen_prompt_character_is_a_clear_error() {
    let dir = small_project();
    assert!(muse(&dir, &["train", "--run", "tiny", "--max-steps", "2"]).status.success());
    let output = muse(&dir, &["generate", "--prompt", "Ω"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with(
            "error: the prompt contains \"Ω\" (U+03A9), a character the model never saw"
        ),
        "{message}"
    );
}

#[test]
fn a_bad_config_or_flag_stops_with_its_message() {
    let dir = common::scratch();
    std::fs::write(dir.join("muse.toml"), "[sample]\ntemprature = 0.7\n").unwrap();
    let output = muse(&dir, &["train"]);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "error: {}:2:1: unknown key \"temprature\" in [sample], did you mean \"temperature\"?\n",
        dir.join("muse.toml").display()
    );
    assert_eq!(stderr(&output), expected);

    let dir = small_project();
    let output = muse(&dir, &["train", "--max-steps", "0"]);
    assert_eq!(
        stderr(&output),
        "error: --max-steps must be a whole number from 1 to 100000000, found 0\n"
    );
}

#[test]
fn a_missing_corpus_names_the_paths_searched() {
    let dir = common::scratch();
    let output = muse(&dir, &["train"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    let corpora = dir.join("corpora");
    assert_eq!(
        message,
        format!(
            "error: no text to train on: searched {0}; {0} does not exist\n",
            corpora.display()
        )
    );
}

#[test]
fn corpus_stats_reports_what_was_read_and_skipped() {
    let fixtures = common::project_root().join("tests/fixtures/corpus/bad");
    let output =
        muse(&common::scratch(), &["corpus", "stats", "--json", fixtures.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["files"], 2);
    assert_eq!(stats["documents"], 2);
    assert_eq!(stats["characters"], 9 + 24);
    assert_eq!(stats["skipped"].as_array().unwrap().len(), 6);
    let skipped = &stats["skipped"][0];
    assert!(skipped["path"].as_str().unwrap().ends_with("archive.txt"));
    assert_eq!(skipped["reason"], "binary file (a NUL byte at offset 4)");
    assert_eq!(
        stats["train_characters"].as_u64().unwrap() + stats["val_characters"].as_u64().unwrap(),
        33
    );
    assert_eq!(stats["vocab"].as_u64().unwrap(), 17);

    let table = stdout(&muse(&common::scratch(), &["corpus", "stats", fixtures.to_str().unwrap()]));
    assert!(table.starts_with("files read      2\nfiles skipped   6\n"), "{table}");
    assert!(table.contains("line lengths"));
}

#[test]
fn generate_sweeps_shapes_styles_and_explains_its_refusals() {
    let dir = small_project();
    assert!(muse(&dir, &["train", "--run", "tiny", "--max-steps", "20"]).status.success());

    let sweep = muse(
        &dir,
        &["generate", "--sweep", "temperature=0.3,1.5", "--seed", "3", "--max-tokens", "20"],
    );
    assert!(sweep.status.success(), "{}", stderr(&sweep));
    let text = stdout(&sweep);
    assert!(text.starts_with("[temperature=0.3]\n"), "{text}");
    assert!(text.contains("\n---\n[temperature=1.5]\n"), "{text}");

    let bad = muse(&dir, &["generate", "--sweep", "top_p=0.5,2"]);
    assert_eq!(stderr(&bad), "error: --sweep must be a number above 0 and at most 1, found 2\n");

    let style = muse(&dir, &["generate", "--style", "limericks"]);
    assert_eq!(
        stderr(&style),
        "error: unknown style \"limericks\"; the styles of this run are: ad-copy, chinese-poems, english-verse, lyrics\n"
    );

    let form = muse(
        &dir,
        &["generate", "--form", "5x4", "--style", "chinese-poems", "--seed", "1", "--json"],
    );
    assert!(form.status.success(), "{}", stderr(&form));
    let poem: serde_json::Value = serde_json::from_str(stdout(&form).trim()).unwrap();
    assert_eq!(poem["ended"], "shape");
    assert_eq!(poem["text"].as_str().unwrap().lines().count(), 4);

    let vae_only = muse(&dir, &["generate", "--interpolate", "月", "风"]);
    assert_eq!(
        stderr(&vae_only),
        "error: --from-text and --interpolate need a VAE run; this run is an lstm\n"
    );
}

#[test]
fn a_vae_run_writes_variations_and_interpolations() {
    let dir = small_project();
    let train = muse(&dir, &["train", "--run", "vae", "--model", "vae", "--max-steps", "10"]);
    assert!(train.status.success(), "{}", stderr(&train));

    let line = muse(
        &dir,
        &[
            "generate",
            "--interpolate",
            "月落",
            "风起",
            "--steps",
            "3",
            "--json",
            "--max-tokens",
            "20",
        ],
    );
    assert!(line.status.success(), "{}", stderr(&line));
    assert_eq!(stdout(&line).lines().count(), 3);

    let variations = muse(
        &dir,
        &["generate", "--from-text", "月落", "-n", "2", "--max-tokens", "20", "--seed", "4"],
    );
    assert!(variations.status.success(), "{}", stderr(&variations));
    assert_eq!(stdout(&variations).matches("\n---\n").count(), 1);
}
