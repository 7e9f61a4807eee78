//! `fmq top`: a live terminal view (ratatui) of the queues `fmq list` finds: per queue its
//! writer, message and byte rates (from the commit point and the unwrapped write position,
//! sampled every interval), a sparkline of the message rate, the youngest id and the
//! registered readers' largest lag. Keys: `s` cycles the sort (name, messages/s, bytes/s,
//! lag; the selected queue stays selected), up/down or `k`/`j` move, Home/End or `g`/`G`
//! jump, Enter shows one queue (its header, writer, every
//! registered reader and a large sparkline), Esc goes back, `q` quits. Reading only: it
//! never slows a writer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::{DefaultTerminal, Frame};

use fmq::QueueInfo;

use crate::list::writer_text;

use crate::util::human_bytes;

/// Samples of the rate history kept per queue.
const HISTORY: usize = 120;

/// What the table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Name,
    Messages,
    Bytes,
    Lag,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Name => Sort::Messages,
            Sort::Messages => Sort::Bytes,
            Sort::Bytes => Sort::Lag,
            Sort::Lag => Sort::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Messages => "msg/s",
            Sort::Bytes => "bytes/s",
            Sort::Lag => "lag",
        }
    }
}

/// One queue as top last saw it, and its history.
struct Watched {
    info: Option<QueueInfo>,
    error: Option<String>,
    /// (when, youngest id, write position) of the last sample.
    last: Option<(Instant, u64, u64)>,
    msg_rate: f64,
    byte_rate: f64,
    history: Vec<u64>,
}

impl Watched {
    fn new() -> Watched {
        Watched {
            info: None,
            error: None,
            last: None,
            msg_rate: 0.0,
            byte_rate: 0.0,
            history: Vec::new(),
        }
    }

    /// Takes a new sample of `queue`.
    fn sample(&mut self, queue: &str, now: Instant) {
        match fmq::info(queue) {
            Ok(i) => {
                let (id, pos) = (i.header.youngest_id, i.header.write_pos);
                if let Some((t, id0, pos0)) = self.last {
                    let dt = now.duration_since(t).as_secs_f64().max(1e-6);
                    // A re-created queue starts again from 0: no negative rate.
                    self.msg_rate = id.saturating_sub(id0) as f64 / dt;
                    self.byte_rate = pos.saturating_sub(pos0) as f64 / dt;
                    self.history.push(self.msg_rate.round() as u64);
                    if self.history.len() > HISTORY {
                        self.history.remove(0);
                    }
                }
                self.last = Some((now, id, pos));
                self.info = Some(i);
                self.error = None;
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.info = None;
                self.last = None;
            }
        }
    }

    fn max_lag(&self) -> u64 {
        self.info
            .as_ref()
            .map_or(0, |i| i.readers.iter().map(|r| r.lag).max().unwrap_or(0))
    }
}

/// The whole view.
struct Top {
    dirs: Vec<PathBuf>,
    queues: BTreeMap<String, Watched>,
    order: Vec<String>,
    sort: Sort,
    table: TableState,
    /// Enter: the queue shown alone.
    detail: Option<String>,
}

impl Top {
    fn refresh(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        let found = crate::list::find_queues(&self.dirs)?;
        self.queues.retain(|q, _| found.contains(q));
        for q in &found {
            self.queues
                .entry(q.clone())
                .or_insert_with(Watched::new)
                .sample(q, now);
        }
        self.reorder();
        Ok(())
    }

    fn reorder(&mut self) {
        let selected = self
            .table
            .selected()
            .and_then(|i| self.order.get(i).cloned());
        let mut order: Vec<String> = self.queues.keys().cloned().collect();
        let q = &self.queues;
        match self.sort {
            Sort::Name => {}
            Sort::Messages => order.sort_by(|a, b| q[b].msg_rate.total_cmp(&q[a].msg_rate)),
            Sort::Bytes => order.sort_by(|a, b| q[b].byte_rate.total_cmp(&q[a].byte_rate)),
            Sort::Lag => order.sort_by_key(|a| std::cmp::Reverse(q[a].max_lag())),
        }
        self.order = order;
        let at = selected
            .and_then(|s| self.order.iter().position(|q| *q == s))
            .or(if self.order.is_empty() { None } else { Some(0) });
        self.table.select(at);
    }

    /// Handles one key; false to quit.
    fn key(&mut self, code: KeyCode) -> bool {
        match code {
            KeyCode::Char('q') => return false,
            KeyCode::Esc | KeyCode::Backspace if self.detail.is_some() => self.detail = None,
            KeyCode::Esc => return false,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.reorder();
            }
            KeyCode::Down | KeyCode::Char('j') => self.table.select_next(),
            KeyCode::Up | KeyCode::Char('k') => self.table.select_previous(),
            KeyCode::Home | KeyCode::Char('g') => self.table.select_first(),
            KeyCode::End | KeyCode::Char('G') => self.table.select_last(),
            KeyCode::Enter => {
                self.detail = self
                    .table
                    .selected()
                    .and_then(|i| self.order.get(i).cloned());
            }
            _ => {}
        }
        true
    }

    fn draw(&mut self, f: &mut Frame) {
        match self.detail.clone() {
            Some(q) => self.draw_detail(f, &q),
            None => self.draw_table(f),
        }
    }

    fn draw_table(&mut self, f: &mut Frame) {
        let [head, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(f.area());
        f.render_widget(
            Paragraph::new(format!(
                "fmq top: {} queues, sorted by {}   s sort  up/down/Home/End move  Enter show  q quit",
                self.order.len(),
                self.sort.label()
            )),
            head,
        );
        let rows: Vec<Row> = self
            .order
            .iter()
            .map(|name| {
                let w = &self.queues[name];
                match &w.info {
                    None => Row::new(vec![
                        name.clone(),
                        format!("unreadable: {}", w.error.clone().unwrap_or_default()),
                    ]),
                    Some(i) => Row::new(vec![
                        name.clone(),
                        writer_text(&i.writer),
                        format!("{:.0}", w.msg_rate),
                        format!("{}/s", human_bytes(w.byte_rate as u64)),
                        spark_text(&w.history, 16),
                        i.header.youngest_id.to_string(),
                        if i.readers.is_empty() {
                            "-".into()
                        } else {
                            format!("{} ({} readers)", w.max_lag(), i.readers.len())
                        },
                    ]),
                }
            })
            .collect();
        let widths = [
            Constraint::Min(24),
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(16),
        ];
        let header = Row::new(vec![
            "QUEUE", "WRITER", "MSG/S", "BYTES/S", "RATE", "YOUNGEST", "LAG",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD));
        let table = Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::TOP))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        f.render_stateful_widget(table, body, &mut self.table);
    }

    fn draw_detail(&self, f: &mut Frame, name: &str) {
        let [text, spark] =
            Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(f.area());
        let Some(w) = self.queues.get(name) else {
            f.render_widget(Paragraph::new(format!("{name}: gone   Esc back")), text);
            return;
        };
        let mut lines = vec![Line::from(format!("queue    {name}   Esc back  q quit"))];
        match &w.info {
            None => lines.push(Line::from(format!(
                "unreadable: {}",
                w.error.clone().unwrap_or_default()
            ))),
            Some(i) => {
                let h = &i.header;
                lines.push(Line::from(format!("writer   {}", writer_text(&i.writer))));
                lines.push(Line::from(format!(
                    "layout   {} slots, {} buffer, compression {}",
                    h.slots_count,
                    human_bytes(h.buf_size_bytes),
                    i.compression
                )));
                lines.push(Line::from(format!(
                    "ids      oldest {}  youngest {}  present {}",
                    h.oldest_id, h.youngest_id, i.present_count
                )));
                lines.push(Line::from(format!(
                    "rates    {:.0} msg/s  {}/s",
                    w.msg_rate,
                    human_bytes(w.byte_rate as u64)
                )));
                lines.push(Line::from(format!(
                    "readers  {} registered",
                    i.readers.len()
                )));
                for r in &i.readers {
                    lines.push(Line::from(format!(
                        "  {:<16} pid {:<8} lag {:<10} {}",
                        r.name,
                        r.pid,
                        r.lag,
                        if r.dropped {
                            "dropped"
                        } else if r.alive {
                            "live"
                        } else {
                            "dead"
                        }
                    )));
                }
            }
        }
        f.render_widget(Paragraph::new(lines), text);
        f.render_widget(
            Sparkline::default()
                .block(Block::default().borders(Borders::ALL).title("messages/s"))
                .data(&w.history),
            spark,
        );
    }
}

/// The last `width` samples as block characters, scaled to the largest.
fn spark_text(history: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &history[history.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    tail.iter()
        .map(|&v| {
            let level = v.saturating_mul(7).checked_div(max).unwrap_or(0).min(7);
            BARS[level as usize]
        })
        .collect()
}

/// `fmq top [DIR...] [--interval SECS]`.
pub fn run(dirs: Vec<PathBuf>, interval: Duration) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("fmq top needs a terminal (for scripts: fmq list --json)");
    }
    let mut top = Top {
        dirs,
        queues: BTreeMap::new(),
        order: Vec::new(),
        sort: Sort::Name,
        table: TableState::default(),
        detail: None,
    };
    top.refresh()?;
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let result = run_loop(&mut terminal, &mut top, interval);
    ratatui::restore();
    result?;
    Ok(ExitCode::SUCCESS)
}

fn run_loop(
    terminal: &mut DefaultTerminal,
    top: &mut Top,
    interval: Duration,
) -> anyhow::Result<()> {
    let mut next = Instant::now() + interval;
    loop {
        terminal.draw(|f| top.draw(f))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            if let Event::Key(k) = event::read()? {
                if k.kind == KeyEventKind::Press && !top.key(k.code) {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= next {
            top.refresh()?;
            next = Instant::now() + interval;
        }
    }
}
