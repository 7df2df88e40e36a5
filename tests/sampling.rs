//! Generation on a trained model: shapes and acrostics that always hold, styles that
//! write in their own script, stop and banned strings, and settings that change while
//! text streams.

mod common;

use std::sync::OnceLock;

use muse::config::Config;
use muse::model::LanguageModel;
use muse::run::{saved, RunDir};
use muse::sample::{
    generate, generate_with, Control, Ended, Form, Generator, Message, Observer, Report, Request,
    Settings, Shape,
};
use muse::vocab::Vocab;
use tch::Device;

const CHINESE: &str = "chinese-poems";
const ADS: &str = "ad-copy";

/// A model trained on two styles of the bundled corpus: Chinese poems and English ad copy.
fn trained() -> &'static RunDir {
    static RUN: OnceLock<RunDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut config: Config = common::small_config(400);
        let corpora = common::project_root().join("corpora");
        config.corpus.paths = vec![
            corpora.join(CHINESE).display().to_string(),
            corpora.join(ADS).display().to_string(),
        ];
        config.corpus.style_from = Some("folder".into());
        common::train_run(&common::scratch(), "styles", &config).0
    })
}

fn model() -> (Box<dyn LanguageModel>, Vocab) {
    let run = trained();
    let vocab = Vocab::load(&run.tokenizer()).unwrap();
    let (model, _, _) =
        saved::load(&run.newest_checkpoint().unwrap(), Device::Cpu, &vocab).unwrap();
    (model, vocab)
}

fn request(style: &str, count: usize, max_tokens: usize, shape: Shape) -> Request {
    let mut request = Request::simple("", Settings::default(), max_tokens, 0, count);
    request.style = Some(style.to_string());
    request.shape = shape;
    request
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

#[test]
fn every_form_holds_for_two_hundred_seeds() {
    let (model, vocab) = model();
    for form in ["5x4", "7x4", "5x8", "7x8"] {
        let form = Form::parse(form).unwrap();
        let shape = Shape { form: Some(form), ..Shape::default() };
        let texts = generate(model.as_ref(), &vocab, &request(CHINESE, 200, 200, shape)).unwrap();
        for (seed, generated) in texts.iter().enumerate() {
            assert_eq!(generated.ended, Ended::Shape, "seed {seed}");
            let lines: Vec<&str> = generated.text.split('\n').collect();
            assert_eq!(lines.len(), form.lines, "seed {seed}: {:?}", generated.text);
            for (index, line) in lines.iter().enumerate() {
                let chars: Vec<char> = line.chars().collect();
                assert_eq!(chars.len(), form.characters + 1, "seed {seed} line {index}: {line}");
                assert!(
                    chars[..form.characters].iter().all(|c| c.is_alphanumeric()),
                    "seed {seed}: {line}"
                );
                let end = chars[form.characters];
                let ends: &[char] = if index + 1 == form.lines {
                    &['。', '！', '？']
                } else {
                    &['，', '。', '！', '？', '；']
                };
                assert!(ends.contains(&end), "seed {seed} line {index} ends with {end}");
            }
        }
    }
}

#[test]
fn acrostics_hold_for_two_hundred_seeds_with_and_without_a_form() {
    let (model, vocab) = model();
    let head = "春风明月";
    let shape = Shape {
        form: Some(Form::parse("7x4").unwrap()),
        acrostic: Some(head.chars().collect()),
        ..Shape::default()
    };
    for generated in generate(model.as_ref(), &vocab, &request(CHINESE, 200, 200, shape)).unwrap() {
        let firsts: String = generated.text.lines().filter_map(|l| l.chars().next()).collect();
        assert_eq!(firsts, head, "{}", generated.text);
    }

    let shape = Shape { acrostic: Some("SEA".chars().collect()), ..Shape::default() };
    for generated in generate(model.as_ref(), &vocab, &request(ADS, 200, 300, shape)).unwrap() {
        let lines: Vec<&str> = generated.text.split('\n').collect();
        if generated.ended == Ended::Shape {
            assert_eq!(lines.len(), 3, "{}", generated.text);
        }
        for (line, first) in lines.iter().zip(['S', 'E', 'A']) {
            assert_eq!(line.chars().next(), Some(first), "{}", generated.text);
        }
    }
}

#[test]
fn a_forced_character_is_reported_and_the_shape_still_holds() {
    let (model, vocab) = model();
    let mut request = request(
        ADS,
        20,
        40,
        Shape { acrostic: Some(vec!['q']), lines: Some(1), ..Shape::default() },
    );
    for candidate in request.candidates.iter_mut() {
        candidate.settings.top_k = 1;
    }
    let texts = generate(model.as_ref(), &vocab, &request).unwrap();
    let forced: Vec<_> = texts.iter().filter(|g| !g.forced.is_empty()).collect();
    assert!(!forced.is_empty(), "greedy decoding never starts ad copy with q by itself");
    for generated in &texts {
        assert!(generated.text.starts_with('q'), "{}", generated.text);
    }
    let first = &forced[0].forced[0];
    assert_eq!((first.line, first.column, first.text.as_str()), (1, 1, "q"));
}

#[test]
fn a_number_of_lines_holds_in_any_script() {
    let (model, vocab) = model();
    let shape = Shape { lines: Some(2), ..Shape::default() };
    for generated in generate(model.as_ref(), &vocab, &request(ADS, 50, 400, shape)).unwrap() {
        if generated.ended == Ended::Shape {
            assert_eq!(generated.text.split('\n').count(), 2, "{:?}", generated.text);
        } else {
            assert_eq!(generated.ended, Ended::MaxTokens);
            assert!(generated.text.split('\n').count() <= 2);
        }
    }
}

#[test]
fn each_style_writes_in_its_own_script_nine_times_in_ten() {
    let (model, vocab) = model();
    assert_eq!(vocab.styles(), [ADS, CHINESE]);
    for style in [CHINESE, ADS] {
        let texts =
            generate(model.as_ref(), &vocab, &request(style, 40, 40, Shape::default())).unwrap();
        let in_script = texts
            .iter()
            .filter(|g| {
                let letters: Vec<char> = g.text.chars().filter(|c| c.is_alphanumeric()).collect();
                let cjk = letters.iter().filter(|c| is_cjk(**c)).count();
                let chinese = !letters.is_empty() && cjk * 2 > letters.len();
                chinese == (style == CHINESE)
            })
            .count();
        assert!(in_script >= 36, "{style}: {in_script} of 40 texts in its script");
    }
    let error = vocab.style("limericks").unwrap_err().to_string();
    assert_eq!(
        error,
        "unknown style \"limericks\"; the styles of this run are: ad-copy, chinese-poems"
    );
}

#[test]
fn stop_strings_end_the_text_and_banned_strings_never_appear() {
    let (model, vocab) = model();
    let mut stopping = request(ADS, 50, 300, Shape::default());
    let mut banning = request(ADS, 50, 300, Shape::default());
    for candidate in stopping.candidates.iter_mut() {
        candidate.settings.stop = vec![". ".into()];
    }
    for candidate in banning.candidates.iter_mut() {
        candidate.settings.banned = vec!["e".into(), "the".into()];
    }
    let stopped = generate(model.as_ref(), &vocab, &stopping).unwrap();
    assert!(stopped.iter().any(|g| g.ended == Ended::Stop));
    for generated in &stopped {
        assert!(!generated.text.contains(". "), "{}", generated.text);
    }
    for generated in generate(model.as_ref(), &vocab, &banning).unwrap() {
        assert!(!generated.text.contains('e'), "{}", generated.text);
    }
}

/// Changes the temperature after a few tokens and keeps every report.
struct Changer {
    tokens: usize,
    reports: Vec<Report>,
}

impl Observer for Changer {
    fn control(&mut self) -> Control {
        if self.tokens == 5 {
            return Control::Update(Settings { temperature: 2.0, ..Settings::off() });
        }
        Control::Continue
    }

    fn token(&mut self, _candidate: usize, _text: &str) {
        self.tokens += 1;
    }

    fn report(&mut self, report: &Report) {
        self.reports.push(report.clone());
    }
}

/// The temperature a report's distribution was drawn at: the ratio of the log
/// probabilities of the two likeliest tokens after and before the chain.
fn temperature_of(report: &Report) -> f64 {
    let before: std::collections::HashMap<u32, f32> = report.before.iter().copied().collect();
    let (a, pa) = report.after[0];
    let (b, pb) = report.after[1];
    let raw = (before[&a] as f64).ln() - (before[&b] as f64).ln();
    raw / ((pa as f64).ln() - (pb as f64).ln())
}

#[test]
fn a_temperature_change_mid_stream_applies_from_the_next_token() {
    let (model, vocab) = model();
    let mut request =
        Request::simple("", Settings { temperature: 0.5, ..Settings::off() }, 12, 3, 1);
    request.style = Some(ADS.into());
    let mut changer = Changer { tokens: 0, reports: Vec::new() };
    generate_with(model.as_ref(), &vocab, &request, &mut changer).unwrap();
    assert!(changer.reports.len() >= 8);
    for (index, report) in changer.reports.iter().enumerate() {
        let expected = if index < 5 { 0.5 } else { 2.0 };
        let measured = temperature_of(report);
        assert!(
            (measured - expected).abs() < 0.01,
            "token {index}: temperature {measured:.3}, expected {expected}"
        );
    }
}

#[test]
fn the_worker_streams_takes_new_settings_and_cancels_at_once() {
    let (model, vocab) = model();
    let generator = Generator::start(model, vocab.clone());

    generator.inspect("", Settings { temperature: 1.0, top_k: 3, ..Settings::off() });
    match generator.messages.recv().unwrap() {
        Message::Distribution(report) => {
            assert_eq!(report.after.len(), 3, "top-k 3 keeps three tokens");
            assert_eq!(report.before.len(), muse::sample::REPORTED);
        }
        other => panic!("expected a distribution, got {other:?}"),
    }

    let mut request = Request::simple("", Settings::default(), 5000, 1, 1);
    request.style = Some(ADS.into());
    generator.generate(request);
    let mut tokens = 0;
    loop {
        match generator.messages.recv().unwrap() {
            Message::Token { .. } => {
                tokens += 1;
                if tokens == 3 {
                    generator.update(Settings { temperature: 0.1, ..Settings::default() });
                }
                if tokens == 10 {
                    generator.cancel();
                }
            }
            Message::Distribution(_) => {}
            Message::Finished(result) => {
                let texts = result.unwrap();
                assert!(
                    matches!(texts[0].ended, Ended::Cancelled | Ended::EndOfDocument),
                    "{:?}",
                    texts[0].ended
                );
                assert!(
                    texts[0].tokens < 20,
                    "cancelled at once, after {} tokens",
                    texts[0].tokens
                );
                break;
            }
        }
    }
}

/// An untrained model over a byte-level BPE vocabulary of the bundled corpus, whose
/// Chinese characters are several tokens each.
fn bpe_model() -> (Box<dyn LanguageModel>, Vocab) {
    let mut config = Config::default().resolved();
    config.tokenizer.kind = muse::config::TokenizerKind::Bpe;
    config.tokenizer.vocab_size = 400;
    let vocab = common::dataset(&config).vocab;
    let spec = muse::model::ModelSpec::new(&common::small_config(1).model, vocab.len());
    tch::manual_seed(5);
    (muse::model::build(&spec, Device::Cpu), vocab)
}

/// Keeps what streams for each candidate.
#[derive(Default)]
struct Collector {
    streamed: Vec<String>,
    calls: usize,
}

impl Observer for Collector {
    fn token(&mut self, candidate: usize, text: &str) {
        if self.streamed.len() <= candidate {
            self.streamed.resize(candidate + 1, String::new());
        }
        self.streamed[candidate].push_str(text);
        self.calls += 1;
    }
}

#[test]
fn what_streams_adds_up_to_the_text_with_stop_strings_and_split_characters() {
    let (model, vocab) = model();
    let stops = vec![". ".to_string(), "，".to_string()];
    let settings = Settings { stop: stops.clone(), ..Settings::default() };
    for style in [ADS, CHINESE] {
        let mut request = Request::simple("", settings.clone(), 200, 1, 12);
        request.style = Some(style.into());
        let mut collector = Collector::default();
        let texts = generate_with(model.as_ref(), &vocab, &request, &mut collector).unwrap();
        assert!(texts.iter().any(|g| g.ended == Ended::Stop), "{style}: some text stops");
        for (generated, streamed) in texts.iter().zip(&collector.streamed) {
            assert_eq!(streamed, &generated.text);
            assert!(stops.iter().all(|stop| !streamed.contains(stop.as_str())), "{streamed:?}");
        }
    }

    let (model, vocab) = bpe_model();
    let request = Request::simple("春", Settings::default(), 120, 2, 8);
    let mut collector = Collector::default();
    let texts = generate_with(model.as_ref(), &vocab, &request, &mut collector).unwrap();
    let tokens: usize = texts.iter().map(|g| g.tokens).sum();
    assert!(collector.calls >= tokens, "one call a token at least");
    for (generated, streamed) in texts.iter().zip(&collector.streamed) {
        assert_eq!(format!("春{streamed}"), generated.text);
    }
}

#[test]
fn a_number_of_lines_holds_with_a_bpe_vocabulary() {
    // Untrained, so newlines come from the bias.
    let (model, vocab) = bpe_model();

    let settings = Settings { logit_bias: vec![("\n".to_string(), 4.0)], ..Settings::default() };
    let shape = Shape { lines: Some(3), ..Shape::default() };
    let mut request = Request::simple("Day one", settings, 300, 0, 30);
    request.shape = shape;
    let texts = generate(model.as_ref(), &vocab, &request).unwrap();
    let shaped: Vec<_> = texts.iter().filter(|g| g.ended == Ended::Shape).collect();
    assert!(shaped.len() >= 25, "{} of 30 reached three lines", shaped.len());
    for generated in shaped {
        assert_eq!(generated.text.split('\n').count(), 3, "{:?}", generated.text);
        assert!(generated.text.starts_with("Day one"), "{:?}", generated.text);
    }

    // A prompt that has the lines already is the whole text.
    let mut full = Request::simple("one\ntwo\nthree", Settings::default(), 50, 0, 2);
    full.shape = Shape { lines: Some(2), ..Shape::default() };
    for generated in generate(model.as_ref(), &vocab, &full).unwrap() {
        assert_eq!((generated.text.as_str(), generated.tokens), ("one\ntwo\nthree", 0));
        assert_eq!(generated.ended, Ended::Shape);
    }
}
