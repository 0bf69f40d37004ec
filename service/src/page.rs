//! Paging for every list: `limit` 1–100 (default 20) and an opaque cursor
//! the previous page handed out. Lists fetch `limit + 1` rows; the extra row
//! only says whether a next page exists ([`Page::from_rows`]).

use crate::error::{Code, Error, Result};

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

/// A checked page request: `limit` within 1–100, `after` the decoded cursor
/// (an id or a version for keyset lists, an offset for the backpack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<i64>,
}

impl PageRequest {
    /// Checks `limit` and decodes `cursor`; either wrong is `invalid_query`.
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> Result<Self> {
        let limit = match limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => n,
            _ => {
                return Err(Error::invalid(
                    Code::InvalidQuery,
                    format!("limit must be between 1 and {MAX_LIMIT}"),
                ))
            }
        };
        Ok(Self {
            limit,
            after: parse_cursor(cursor)?,
        })
    }

    /// The first page of `limit` items.
    pub fn first(limit: u64) -> Self {
        Self {
            limit: limit.clamp(1, MAX_LIMIT),
            after: None,
        }
    }

    /// How many rows to fetch: one more than the page, to see if more follow.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }
}

/// A cursor is a non-negative number we handed out; anything else (also a
/// number past `i64::MAX`) is `invalid_query`. An empty cursor is none.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(Code::InvalidQuery, "cursor is not one this server issued")
            }),
    }
}

/// A page of results: `next` is the cursor of the following page, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }

    /// From up to `limit + 1` rows in list order: keeps `limit` of them;
    /// when there was an extra row, the next cursor is `cursor_of` the last
    /// row kept.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, cursor_of: impl Fn(&T) -> i64) -> Self {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(cursor_of);
            Self { items: rows, next }
        } else {
            Self {
                items: rows,
                next: None,
            }
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_are_invalid_queries() {
        for (limit, ok) in [
            (None, Some(20)),
            (Some(1), Some(1)),
            (Some(100), Some(100)),
            (Some(0), None),
            (Some(101), None),
            (Some(u64::MAX), None),
        ] {
            let got = PageRequest::parse(limit, None).ok().map(|r| r.limit);
            assert_eq!(got, ok, "{limit:?}");
        }
    }

    #[test]
    fn cursors_are_non_negative_numbers_that_fit_an_i64() {
        type Case<'a> = (Option<&'a str>, Result<Option<i64>, ()>);
        let cases: &[Case<'_>] = &[
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (Some("0"), Ok(Some(0))),
            (Some("42"), Ok(Some(42))),
            (Some("9223372036854775807"), Ok(Some(i64::MAX))),
            (Some("9223372036854775808"), Err(())),
            (Some("-1"), Err(())),
            (Some("1e3"), Err(())),
            (Some(" 1"), Err(())),
            (Some("abc"), Err(())),
            (Some("1;DROP TABLE users"), Err(())),
        ];
        for (cursor, want) in cases {
            let got = parse_cursor(*cursor).map_err(|e| assert_eq!(e.code(), Code::InvalidQuery));
            assert_eq!(got, *want, "{cursor:?}");
        }
    }

    #[test]
    fn an_extra_row_makes_a_next_cursor_from_the_last_kept_row() {
        let req = PageRequest::parse(Some(2), None).unwrap();
        let page = Page::from_rows(vec![9, 8, 7], &req, |n| *n);
        assert_eq!(page.items, vec![9, 8]);
        assert_eq!(page.next, Some(8));
        let last = Page::from_rows(vec![9, 8], &req, |n| *n);
        assert_eq!(last.items, vec![9, 8]);
        assert_eq!(last.next, None);
    }
}
