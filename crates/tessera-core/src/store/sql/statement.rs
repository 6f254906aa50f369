//! A statement and its parameters, as the store writes it once for both
//! databases: `$n` placeholders, `RETURNING` and `ON CONFLICT`, which SQLite
//! and PostgreSQL both accept. Binding the parameters, running a statement
//! on a connection and decoding its rows live here; where it runs is
//! `db.rs`'s concern.

use super::super::{StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments as _, Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// One parameter of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    /// An integer (milliseconds, counts, sequence numbers), or NULL.
    Int(Option<i64>),
    /// A boolean, or NULL.
    Bool(Option<bool>),
    /// Borrowed text, or NULL.
    Text(Option<&'a str>),
    /// Owned text (an id formatted for the statement), or NULL.
    OwnedText(Option<String>),
    /// Borrowed bytes (hashes, sealed secrets), or NULL.
    Bytes(Option<&'a [u8]>),
    /// Owned bytes, or NULL (for a statement that outlives its caller).
    OwnedBytes(Option<Vec<u8>>),
}

impl Param<'_> {
    /// The same value, borrowed: binds a parameter that is kept for later
    /// without copying it.
    pub(crate) fn borrowed(&self) -> Param<'_> {
        match self {
            Param::Int(v) => Param::Int(*v),
            Param::Bool(v) => Param::Bool(*v),
            Param::Text(v) => Param::Text(*v),
            Param::OwnedText(v) => Param::Text(v.as_deref()),
            Param::Bytes(v) => Param::Bytes(*v),
            Param::OwnedBytes(v) => Param::Bytes(v.as_deref()),
        }
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(Some(i64::from(v)))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(Some(v))
    }
}

impl From<Option<bool>> for Param<'_> {
    fn from(v: Option<bool>) -> Self {
        Param::Bool(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::Text(v.as_deref())
    }
}

impl From<String> for Param<'_> {
    fn from(v: String) -> Self {
        Param::OwnedText(Some(v))
    }
}

impl From<Option<String>> for Param<'_> {
    fn from(v: Option<String>) -> Self {
        Param::OwnedText(v)
    }
}

impl From<Uuid> for Param<'_> {
    fn from(v: Uuid) -> Self {
        Param::OwnedText(Some(v.to_string()))
    }
}

impl From<Option<Uuid>> for Param<'_> {
    fn from(v: Option<Uuid>) -> Self {
        Param::OwnedText(v.map(|u| u.to_string()))
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(Some(v))
    }
}

impl<'a> From<&'a [u8; 32]> for Param<'a> {
    fn from(v: &'a [u8; 32]) -> Self {
        Param::Bytes(Some(v))
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Bytes(Some(v))
    }
}

impl From<Vec<u8>> for Param<'_> {
    fn from(v: Vec<u8>) -> Self {
        Param::OwnedBytes(Some(v))
    }
}

impl<'a> From<Option<&'a [u8]>> for Param<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Param::Bytes(v)
    }
}

/// A statement and its parameters, `$1` first.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    sql: &'a str,
    params: Vec<Param<'a>>,
}

/// A statement with no parameters bound yet.
pub(crate) fn sql(sql: &str) -> Statement<'_> {
    Statement {
        sql,
        params: Vec::new(),
    }
}

impl<'a> Statement<'a> {
    /// A statement with its parameters already bound.
    pub(super) fn with(sql: &'a str, params: Vec<Param<'a>>) -> Self {
        Statement { sql, params }
    }

    /// Binds the next parameter.
    pub(crate) fn bind(mut self, param: impl Into<Param<'a>>) -> Self {
        self.params.push(param.into());
        self
    }
}

/// Several writes that commit together, sent to the database in one round
/// trip instead of one per statement. The two databases say it differently:
///
/// - for SQLite, a script of statements separated by `;` that begins with
///   `BEGIN IMMEDIATE` and ends with `COMMIT`, its statements sharing the
///   `$n` parameters;
/// - for PostgreSQL, one statement whose data-modifying `WITH` parts commit
///   together.
///
/// The rows answered are those of the statements that answer rows.
#[derive(Debug)]
pub(crate) struct Script {
    sqlite: &'static str,
    postgres: &'static str,
    params: Vec<Param<'static>>,
}

/// A script with no parameters bound yet.
pub(crate) fn script(sqlite: &'static str, postgres: &'static str) -> Script {
    debug_assert!(sqlite.starts_with("BEGIN IMMEDIATE;") && sqlite.ends_with("COMMIT"));
    Script {
        sqlite,
        postgres,
        params: Vec::new(),
    }
}

impl Script {
    /// The script as SQLite runs it.
    pub(super) fn for_sqlite(self) -> Statement<'static> {
        Statement {
            sql: self.sqlite,
            params: self.params,
        }
    }

    /// The statement as PostgreSQL runs it.
    pub(super) fn for_postgres(self) -> Statement<'static> {
        Statement {
            sql: self.postgres,
            params: self.params,
        }
    }

    /// Binds `params`, in order, after those already bound; they own their
    /// values, since the script may outlive the request that wrote it.
    pub(crate) fn bind_all(mut self, params: Vec<Param<'static>>) -> Self {
        self.params.extend(params);
        self
    }
}

/// A row type either driver can decode (the structs of `rows.rs`, tuples).
pub(crate) trait Row:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// The statement's parameters as `DB`'s arguments.
fn arguments<'q, DB: Database>(params: Vec<Param<'q>>) -> Result<DB::Arguments<'q>, sqlx::Error>
where
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
{
    let mut args = DB::Arguments::<'q>::default();
    for param in params {
        match param {
            Param::Int(v) => args.add(v),
            Param::Bool(v) => args.add(v),
            Param::Text(v) => args.add(v),
            Param::OwnedText(v) => args.add(v),
            Param::Bytes(v) => args.add(v),
            Param::OwnedBytes(v) => args.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// What a statement's run answers.
pub(super) enum Fetch {
    One,
    Optional,
    All,
}

/// Runs `statement` on `executor` and decodes what `fetch` asks for.
pub(super) async fn run<'e, 'q, DB, E, R>(
    executor: E,
    statement: Statement<'q>,
    fetch: Fetch,
) -> Result<Vec<R>, sqlx::Error>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
{
    let args = arguments::<DB>(statement.params)?;
    let query = sqlx::query_as_with::<DB, R, _>(statement.sql, args);
    Ok(match fetch {
        Fetch::One => vec![query.fetch_one(executor).await?],
        Fetch::Optional => query.fetch_optional(executor).await?.into_iter().collect(),
        Fetch::All => query.fetch_all(executor).await?,
    })
}

/// Runs `statement` on `executor` for its effect: the rows it changed.
pub(super) async fn execute<'e, 'q, DB, E>(
    executor: E,
    statement: Statement<'q>,
) -> Result<u64, sqlx::Error>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
    E: Executor<'e, Database = DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
{
    let args = arguments::<DB>(statement.params)?;
    let done = sqlx::query_with::<DB, _>(statement.sql, args)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

/// How many rows a statement changed: both drivers' results say so, the
/// `Database` trait does not.
pub(super) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

/// The first row of a one-row answer.
pub(super) fn one<R>(rows: Vec<R>) -> StoreResult<R> {
    rows.into_iter()
        .next()
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}
