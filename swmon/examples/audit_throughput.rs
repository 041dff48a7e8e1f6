//! Audit parser and assembler throughput on recorded audit text, run by
//! `cargo xtask bench audit`: records per second on one core, for the
//! netlink form (parse + assemble + drain), the netlink form parsed alone,
//! and auditd's log form. Serials are rewritten on each pass so every event
//! is new, as on a live host.
//!
//! Usage: audit_throughput NETLINK_FILE LOG_FILE PASSES

use std::{hint::black_box, time::Instant};

use swmon::audit::{parse_log_line, parse_netlink, Assembler, AssemblerConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, netlink, log, passes] = args.as_slice() else {
        eprintln!("usage: audit_throughput NETLINK_FILE LOG_FILE PASSES");
        std::process::exit(2);
    };
    let passes: u64 = passes.parse().unwrap_or(1000);
    let netlink = std::fs::read_to_string(netlink).unwrap_or_else(|e| panic!("{netlink}: {e}"));
    let log = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{log}: {e}"));
    // (type, text before the serial, serial, text after) per record.
    let records: Vec<(u16, String, u64, String)> = netlink
        .lines()
        .filter_map(|l| {
            let (ty, payload) = l.split_once(' ')?;
            let colon = payload.find(':')?;
            let close = payload.find(')')?;
            let serial: u64 = payload[colon + 1..close].parse().ok()?;
            Some((
                ty.parse().ok()?,
                payload[..colon + 1].to_owned(),
                serial,
                payload[close..].to_owned(),
            ))
        })
        .collect();
    let base = records.iter().map(|r| r.2).min().unwrap_or(0);
    let span = records.iter().map(|r| r.2).max().unwrap_or(0) - base + 1;
    // The texts are made before timing, so the clock sees parsing only.
    let mut texts = Vec::with_capacity(records.len() * passes as usize);
    for pass in 0..passes {
        for (ty, head, serial, tail) in &records {
            texts.push((
                *ty,
                format!("{head}{}{tail}", serial - base + pass * span + 1),
            ));
        }
    }
    let n = texts.len() as f64;

    let start = Instant::now();
    let mut asm = Assembler::new(AssemblerConfig::default());
    let mut events = 0u64;
    for (i, (ty, text)) in texts.iter().enumerate() {
        if let Ok(r) = parse_netlink(*ty, text.as_bytes()) {
            asm.push(r, i as u64 / 1000);
        }
        events += asm.drain_ready().count() as u64;
    }
    asm.flush_all();
    events += asm.drain_ready().count() as u64;
    let assemble = n / start.elapsed().as_secs_f64();

    let start = Instant::now();
    for (ty, text) in &texts {
        black_box(parse_netlink(*ty, text.as_bytes()).ok());
    }
    let parse = n / start.elapsed().as_secs_f64();

    let lines: Vec<&str> = log.lines().collect();
    let reps = (texts.len() / lines.len().max(1)).max(1);
    let start = Instant::now();
    for _ in 0..reps {
        for l in &lines {
            black_box(parse_log_line(l.as_bytes()).ok());
        }
    }
    let log_rate = (reps * lines.len()) as f64 / start.elapsed().as_secs_f64();

    println!("records {}", texts.len());
    println!("events {events}");
    println!("netlink_parse_assemble_per_s {assemble:.0}");
    println!("netlink_parse_per_s {parse:.0}");
    println!("log_parse_per_s {log_rate:.0}");
}
