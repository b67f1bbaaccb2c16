//! The engine thread and the handle other threads use to talk to it.
//!
//! One thread owns the engine (model, cache, scheduler); everything else sends it commands
//! over a channel and receives each request's events on the request's own channel.

use crate::grammar::{Grammar, Grammars};
use crate::sequence::EngineEvent;
use crate::Engine;
use sluice_core::{EngineStats, GenerationError, GenerationRequest, RequestId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// A request on its way to the engine, with its compiled constraint and its events' sender.
struct Submission {
    req: GenerationRequest,
    grammar: Option<Grammar>,
    events: tokio::sync::mpsc::UnboundedSender<EngineEvent>,
}

enum Command {
    Submit(Box<Submission>),
    Stats(tokio::sync::oneshot::Sender<EngineStats>),
}

pub struct EngineHandle {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    next_id: AtomicU64,
    grammars: Arc<Grammars>,
}

impl EngineHandle {
    /// Moves the engine onto its own thread.
    pub fn spawn(engine: Engine) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let grammars = engine.grammars();
        let thread = std::thread::Builder::new()
            .name("sluice-engine".into())
            .spawn(move || run(engine, rx))?;
        Ok(EngineHandle {
            commands: Some(tx),
            thread: Some(thread),
            next_id: AtomicU64::new(1),
            grammars,
        })
    }

    /// A fresh id for a request.
    pub fn next_request_id(&self) -> RequestId {
        RequestId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues a request; its events arrive on the returned receiver. Dropping the receiver
    /// aborts the request and frees its blocks. A constraint is compiled here, on the
    /// caller's thread, so a bad one is refused at once and the engine's steps never wait
    /// for a compilation.
    pub fn submit(
        &self,
        req: GenerationRequest,
    ) -> Result<UnboundedReceiver<EngineEvent>, GenerationError> {
        let grammar = req
            .constraint
            .as_ref()
            .map(|c| self.grammars.compile(c))
            .transpose()?;
        let (tx, rx) = unbounded_channel();
        self.send(Command::Submit(Box::new(Submission {
            req,
            grammar,
            events: tx,
        })))?;
        Ok(rx)
    }

    /// The engine's counters, from a thread outside any async runtime.
    pub fn stats(&self) -> Result<EngineStats, GenerationError> {
        let rx = self.request_stats()?;
        rx.blocking_recv()
            .map_err(|_| GenerationError::EngineStopped)
    }

    /// The engine's counters, without blocking the async runtime while a step runs.
    pub async fn stats_async(&self) -> Result<EngineStats, GenerationError> {
        let rx = self.request_stats()?;
        rx.await.map_err(|_| GenerationError::EngineStopped)
    }

    fn request_stats(
        &self,
    ) -> Result<tokio::sync::oneshot::Receiver<EngineStats>, GenerationError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Stats(tx))?;
        Ok(rx)
    }

    fn send(&self, cmd: Command) -> Result<(), GenerationError> {
        let tx = self
            .commands
            .as_ref()
            .ok_or(GenerationError::EngineStopped)?;
        tx.send(cmd).map_err(|_| GenerationError::EngineStopped)
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        // Closing the channel tells the thread to fail what is left and exit.
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut engine: Engine, commands: mpsc::Receiver<Command>) {
    loop {
        // Sleep on the channel when there is nothing to compute.
        if !engine.has_work() {
            match commands.recv() {
                Ok(cmd) => apply(&mut engine, cmd),
                Err(_) => break,
            }
        }
        loop {
            match commands.try_recv() {
                Ok(cmd) => apply(&mut engine, cmd),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    engine.shutdown();
                    return;
                }
            }
        }
        engine.step();
    }
    engine.shutdown();
}

fn apply(engine: &mut Engine, cmd: Command) {
    match cmd {
        Command::Submit(submission) => {
            let Submission {
                req,
                grammar,
                events,
            } = *submission;
            engine.admit(req, grammar, events)
        }
        Command::Stats(reply) => {
            let _ = reply.send(engine.stats());
        }
    }
}
