//! A Look as a stream of parsed items, read the one way every streaming action reads it (the
//! RudderStack pipeline and the write-back batch): bytes come from the [`input`] (a pushed
//! attachment unescaped in place, a base64 attachment, or the download_url), a chunk at a time,
//! into the incremental [`Parser`]; the action takes each item (`fields`, `ran_at`, a row) as
//! soon as it is complete, so only the current row is ever buffered.
//!
//! An action's loop:
//! ```text
//! let mut look = LookStream::open(&req, &ctx, Format::JsonDetail).await?;
//! while look.read().await? {
//!     while let Some(item) = look.next_item()? {
//!         // map, batch, send or write the item
//!     }
//!     // between chunks: flush what was gathered
//! }
//! ```
//! `read` and `next_item` are split, rather than one `next().await`, so that the action can
//! await (a batch to send, rows to write) while it holds a row borrowed from the parser.

pub(crate) mod input;

use crate::actions::ExecuteRequest;
use crate::context::Context;
use crate::parse::{Format, Item, ParseError, Parser};

use input::{CHUNK, Input};

/// Why a Look could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LookError {
    /// Nothing but whitespace arrived. The write-back action answers this one without its
    /// "… written before" note, as nothing can have been written.
    #[error("the {} document is empty", .0.as_str())]
    Empty(Format),
    /// The bytes could not be had: the download broke off, an attachment's escape is bad.
    #[error("{0}")]
    Input(String),
    /// The bytes are not a complete, well-formed document (the message says where).
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// A Look being read: its input, and the parser once the first byte told the format.
pub(crate) struct LookStream {
    input: Input,
    /// The format the action asked Looker for; a document starting with `[` is read as `json`.
    requested: Format,
    /// The parser's row limit (`--max-row-bytes`).
    max_row_bytes: usize,
    /// Made at the first byte that is not whitespace: only then is the format known.
    parser: Option<Parser>,
    /// The chunk being handed to the parser (reused, so reading allocates once).
    chunk: Vec<u8>,
    /// The input is exhausted and the parser was told so; the next `read` checks the end.
    ended: bool,
}

impl LookStream {
    /// Opens the Look of an execute: its pushed attachment, or a GET of its download_url. The
    /// error is the execute's whole answer (nothing was read yet).
    pub(crate) async fn open(
        req: &ExecuteRequest,
        ctx: &Context,
        requested: Format,
    ) -> Result<Self, String> {
        Ok(Self {
            input: Input::open(req, ctx).await?,
            requested,
            max_row_bytes: ctx.config.max_row_bytes,
            parser: None,
            chunk: Vec::with_capacity(CHUNK),
            ended: false,
        })
    }

    /// Hands the parser the next chunk of the Look. `Ok(true)`: take the items now ready with
    /// [`next_item`](Self::next_item) until it gives `None`, then read again. `Ok(false)`: the
    /// document ended and is complete.
    pub(crate) async fn read(&mut self) -> Result<bool, LookError> {
        if self.ended {
            // The last chunk's items were taken: what is left must be the document's end.
            if let Some(p) = &mut self.parser {
                p.finish()?;
            }
            return Ok(false);
        }
        loop {
            self.ended = !self
                .input
                .next(&mut self.chunk)
                .await
                .map_err(LookError::Input)?;
            let p = match &mut self.parser {
                Some(p) => p,
                None => {
                    let Some(&first) = self.chunk.iter().find(|b| !b.is_ascii_whitespace()) else {
                        if self.ended {
                            return Err(LookError::Empty(self.requested));
                        }
                        continue;
                    };
                    let format = if first == b'[' {
                        Format::Json
                    } else {
                        self.requested
                    };
                    self.parser
                        .insert(Parser::new(format).with_max_value_bytes(self.max_row_bytes))
                }
            };
            p.feed(&self.chunk);
            self.chunk.clear();
            if self.ended {
                p.finish_input();
            }
            return Ok(true);
        }
    }

    /// The next complete item of what was read; `None`: [`read`](Self::read) more.
    #[inline]
    pub(crate) fn next_item(&mut self) -> Result<Option<Item<'_>>, ParseError> {
        match &mut self.parser {
            Some(p) => p.next_item(),
            None => Ok(None),
        }
    }

    /// The parser, once the first byte arrived (its format, the rows it handed out).
    pub(crate) fn parser(&self) -> Option<&Parser> {
        self.parser.as_ref()
    }

    /// The format being read: `json` for a document that starts with `[`, else the requested
    /// one (also before the first byte).
    pub(crate) fn format(&self) -> Format {
        self.parser.as_ref().map_or(self.requested, Parser::format)
    }
}
