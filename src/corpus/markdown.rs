//! Markdown to plain text: headings, emphasis and links keep their words; code blocks,
//! HTML and images go.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The readable text of a Markdown document, one block per paragraph, lines kept.
pub fn to_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut in_code_block = false;
    let mut in_image = false;

    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Start(Tag::Image { .. }) => in_image = true,
            Event::End(TagEnd::Image) => in_image = false,
            Event::Start(Tag::Item) => start_line(&mut out),
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::BlockQuote(_)) => {
                end_block(&mut out)
            }
            Event::End(TagEnd::List(_)) => end_block(&mut out),
            Event::Text(text) | Event::Code(text) if !in_code_block && !in_image => {
                out.push_str(&text)
            }
            Event::SoftBreak | Event::HardBreak if !in_code_block => out.push('\n'),
            _ => {}
        }
    }
    out.trim_end().to_string()
}

fn start_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn end_block(out: &mut String) {
    start_line(out);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn headings_emphasis_and_links_keep_their_text() {
        let md = "# Salt Song\n\nThe *tide* comes **in**,\nthe [boat](http://x) goes out.\n";
        assert_eq!(to_text(md), "Salt Song\n\nThe tide comes in,\nthe boat goes out.");
    }

    #[test]
    fn code_blocks_and_html_are_dropped() {
        let md = "Before\n\n```\nlet x = 1;\n```\n\n<div>raw</div>\n\nAfter `inline`\n";
        assert_eq!(to_text(md), "Before\n\nAfter inline");
    }

    #[test]
    fn list_items_are_lines() {
        assert_eq!(to_text("- one\n- two\n\nend"), "one\ntwo\n\nend");
    }
}
