//! Training speed and quality against PyTorch, side by side in one run: the benchmark GPT
//! and LSTM trained character-level on `../shared/corpora/shakespeare-1m.txt` by Muse and
//! by the PyTorch scripts in `benches/reference/`, each in its own process, alternating.
//! Run with `make bench` (or `cargo bench --profile release --bench training`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// One training run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    ms_per_step: f64,
    val_loss: f64,
    peak_mb: f64,
}

struct Shape {
    name: &'static str,
    script: &'static str,
    reference_args: Vec<String>,
    muse_config: String,
    /// Muse's ms_per_step must be at most this times the reference's.
    speed_target: f64,
    /// Steps of each short timing run.
    timing_steps: usize,
    /// Alternating short runs of each, for the speed ratio: this machine's speed drifts
    /// over minutes, so pairs run back to back and the median pair ratio is quoted.
    timing_pairs: usize,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn python() -> String {
    std::env::var("MUSE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs a command to the end and returns its stdout and its peak resident size in MB.
fn run_measured(mut command: Command) -> (String, f64) {
    let output_path = tempfile::NamedTempFile::new().unwrap();
    let child = command
        .stdout(Stdio::from(output_path.reopen().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("the benchmark command starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 reaps our own child and fills the structs it is given; the Child is
    // forgotten so it is not waited for twice.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    assert_eq!(reaped, pid, "the benchmark command is reaped");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the benchmark command failed"
    );
    let stdout = std::fs::read_to_string(output_path.path()).unwrap();
    (stdout, usage.ru_maxrss as f64 / 1024.0)
}

fn reference(shape: &Shape, corpus: &Path, steps: Option<usize>) -> Figures {
    let mut command = Command::new(python());
    command.arg(root().join("benches/reference").join(shape.script));
    command.arg(format!("corpus={}", corpus.display()));
    command.args(&shape.reference_args);
    if let Some(steps) = steps {
        command.args([format!("steps={steps}"), "eval_batches=1".to_string()]);
    }
    let (stdout, peak_mb) = run_measured(command);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .expect("the reference prints JSON");
    Figures {
        ms_per_step: result["ms_per_step"].as_f64().unwrap(),
        val_loss: result["val_loss"].as_f64().unwrap(),
        peak_mb,
    }
}

fn muse(shape: &Shape, corpus: &Path, steps: Option<usize>) -> Figures {
    let project = tempfile::tempdir().unwrap();
    let mut config = shape.muse_config.replace("CORPUS", &corpus.display().to_string());
    if let Some(steps) = steps {
        config = config
            .lines()
            .map(|line| match line.split(" = ").next() {
                Some("max_steps" | "eval_every" | "checkpoint_every" | "sample_every") => {
                    format!("{} = {steps}", line.split(" = ").next().unwrap())
                }
                Some("eval_batches") => "eval_batches = 1".to_string(),
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    std::fs::write(project.path().join("muse.toml"), config).unwrap();
    let mut command = Command::new(root().join("target/release/muse"));
    command.args(["train", "--run", "bench"]).current_dir(project.path());
    let (_, peak_mb) = run_measured(command);
    let metrics = std::fs::read_to_string(project.path().join("runs/bench/metrics.jsonl")).unwrap();
    let done: Value = metrics
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|record| record["event"] == "done")
        .expect("the run finished");
    Figures {
        ms_per_step: done["ms_per_step"].as_f64().unwrap(),
        val_loss: done["best_val_loss"].as_f64().unwrap(),
        peak_mb,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The `[corpus]` table of both bench configs: the references read the raw characters,
/// so Muse cleans nothing here.
const RAW_CORPUS: &str = r#"
[corpus]
paths = ["CORPUS"]
unicode_nfc = false
unix_newlines = false
trim_trailing_spaces = false
collapse_blank_lines = false
strip_control = false"#;

fn shapes(only: Option<&str>) -> Vec<Shape> {
    let gpt = Shape {
        name: "gpt",
        script: "gpt.py",
        reference_args: vec!["steps=2000".into(), "eval_batches=200".into()],
        muse_config: RAW_CORPUS.to_string()
            + r#"
[model]
kind = "gpt"
layers = 4
heads = 4
embedding = 128
context = 64
dropout = 0.0
[train]
batch_size = 12
lr = 1e-3
warmup_steps = 100
min_lr = 1e-4
weight_decay = 0.1
grad_clip = 1.0
max_steps = 2000
eval_every = 2000
eval_batches = 200
checkpoint_every = 2000
sample_every = 2000
"#,
        speed_target: 0.9,
        timing_steps: 200,
        timing_pairs: 10,
    };
    let lstm = Shape {
        name: "lstm",
        script: "lstm.py",
        reference_args: vec!["steps=1000".into(), "eval_batches=100".into()],
        muse_config: RAW_CORPUS.to_string()
            + r#"
[model]
kind = "lstm"
layers = 2
hidden = 256
embedding = 128
context = 128
dropout = 0.0
[train]
batch_size = 32
lr = 2e-3
warmup_steps = 100
min_lr = 2e-4
weight_decay = 0.01
grad_clip = 1.0
max_steps = 1000
eval_every = 1000
eval_batches = 100
checkpoint_every = 1000
sample_every = 1000
"#,
        speed_target: 1.0,
        timing_steps: 60,
        timing_pairs: 6,
    };
    [gpt, lstm].into_iter().filter(|s| only.is_none_or(|name| name == s.name)).collect()
}

fn main() {
    let corpus = root().join("../shared/corpora/shakespeare-1m.txt");
    if !corpus.is_file() {
        println!("training: skipped, {} is not here", corpus.display());
        return;
    }
    let only = std::env::var("MUSE_BENCH_ONLY").ok();
    for shape in shapes(only.as_deref()) {
        let reference_run = reference(&shape, &corpus, None);
        let muse_run = muse(&shape, &corpus, None);
        println!(
            "training: {} full run: muse {:.1} ms/step, val {:.4}, peak {:.0} MB | pytorch {:.1} ms/step, val {:.4}, peak {:.0} MB",
            shape.name,
            muse_run.ms_per_step,
            muse_run.val_loss,
            muse_run.peak_mb,
            reference_run.ms_per_step,
            reference_run.val_loss,
            reference_run.peak_mb,
        );

        let mut ratios = vec![muse_run.ms_per_step / reference_run.ms_per_step];
        for pair in 0..shape.timing_pairs {
            let steps = Some(shape.timing_steps);
            let (r, m) = if pair % 2 == 0 {
                let m = muse(&shape, &corpus, steps);
                (reference(&shape, &corpus, steps), m)
            } else {
                let r = reference(&shape, &corpus, steps);
                (r, muse(&shape, &corpus, steps))
            };
            ratios.push(m.ms_per_step / r.ms_per_step);
        }
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "training: {} speed ratio muse/pytorch: median {:.3} of the full run and {} timing pairs of {} steps ({}; target at most {})",
            shape.name,
            median(ratios.clone()),
            shape.timing_pairs,
            shape.timing_steps,
            listed.join(", "),
            shape.speed_target
        );
        println!(
            "training: {} validation loss gap {:+.4} (target at most +0.03); muse peak memory {:.0} MB",
            shape.name,
            muse_run.val_loss - reference_run.val_loss,
            muse_run.peak_mb
        );
    }
}
