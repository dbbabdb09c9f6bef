//! Aligned plain-text tables for list and describe commands: column
//! widths from the widest cell, numbers right-aligned, no borders, two
//! spaces between columns, nothing trailing.

use std::io::{self, Write};

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table being filled row by row.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns; `(header, alignment)` each.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(header, _)| *header).collect(),
            align: columns.iter().map(|(_, align)| *align).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the header line and every row.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        self.write_line(out, &header, &widths)?;
        for row in &self.rows {
            self.write_line(out, row, &widths)?;
        }
        Ok(())
    }

    fn write_line(
        &self,
        out: &mut impl Write,
        cells: &[String],
        widths: &[usize],
    ) -> io::Result<()> {
        let mut line = String::new();
        for (column, width) in widths.iter().enumerate() {
            let cell = cells.get(column).map_or("", String::as_str);
            let pad = width - cell.chars().count();
            if column > 0 {
                line.push_str("  ");
            }
            match self.align[column] {
                Align::Left => {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// Writes `label  value` lines with the labels padded to one width, the
/// header block above a describe table.
pub fn write_fields(out: &mut impl Write, fields: &[(&str, String)]) -> io::Result<()> {
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        writeln!(out, "{label:<width$}  {value}")?;
    }
    Ok(())
}

/// A count with thousands separators: `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut table = Table::new(&[
            ("NAME", Align::Left),
            ("RECORDS", Align::Right),
            ("NOTE", Align::Left),
        ]);
        table.row(vec!["orders".into(), count(1234567), String::new()]);
        table.row(vec!["a".into(), count(5), "x".into()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME      RECORDS  NOTE\norders  1,234,567\na               5  x\n"
        );
    }

    #[test]
    fn counts_get_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(-1234), "-1,234");
    }
}
