//! Plain-text tables for a person: `cortex workers`.

/// Prints rows (the first is the header) as `table` lays them out.
pub(crate) fn print_table(rows: &[Vec<String>]) {
    print!("{}", table(rows));
}

/// Rows as columns as wide as their widest cell, two spaces apart; the
/// last cell of a row is not padded. One line per row, whatever a cell
/// holds: its control characters are shown escaped, not acted on.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| cortex_core::terminal::one_line(c))
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(cell.as_ref());
            if c + 1 < row.len() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn a_table_is_as_wide_as_its_widest_cells() {
        let rows: Vec<Vec<String>> = [
            ["ID", "COST", "REASON"],
            ["w-1", "$0.0123 (est.)", ""],
            ["w-22", "$1.0000", "killed"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        assert_eq!(
            table(&rows),
            "ID    COST            REASON\nw-1   $0.0123 (est.)\nw-22  $1.0000         killed\n"
        );
        // Widths count characters, not bytes.
        let quoted = vec![
            vec!["“ab”".to_string(), "x".into()],
            vec!["abcd".into(), "y".into()],
        ];
        assert_eq!(table(&quoted), "“ab”  x\nabcd  y\n");
    }
}
