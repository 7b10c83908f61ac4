//! The misconfiguration and ownership tables of docs/TROUBLESHOOTING.md as
//! tests read them: each row's message template, and the check that a real
//! message reads as its row says.

/// The message template of row `id` in docs/TROUBLESHOOTING.md: the text
/// between the row's double backticks, `<...>` standing for any text.
pub fn row_template(id: &str) -> String {
    let doc = include_str!("../../docs/TROUBLESHOOTING.md");
    let prefix = format!("| {id} |");
    let line = doc
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("docs/TROUBLESHOOTING.md has no row {id}"));
    let start = line.find("`` ").expect("message in double backticks") + 3;
    let end = start + line[start..].find(" ``").expect("closing backticks");
    line[start..end].to_string()
}

/// Does `message` read as `template`, each `<...>` matching any text?
pub fn matches_template(message: &str, template: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        pieces.push(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    pieces.push(rest);
    let mut at = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let found = if i == 0 {
            message.starts_with(piece).then_some(0)
        } else {
            message[at..].find(piece).map(|p| p + at)
        };
        let Some(pos) = found else { return false };
        at = pos + piece.len();
    }
    pieces.last().is_some_and(|p| p.is_empty()) || at == message.len()
}

/// Checks `message` against row `id`: one line, as the table says.
pub fn check_row(id: &str, message: &str) {
    assert_eq!(message.lines().count(), 1, "{id}: not one line: {message}");
    let template = row_template(id);
    assert!(
        matches_template(message, &template),
        "{id}: message\n  {message}\ndoes not read as the table's\n  {template}"
    );
    crate::report!("{id}: {message}");
}
