//! Group commit on SQLite's one writer: the calls of one write script that
//! arrive while the writer is busy run together, in one transaction, when
//! it is free, and each of the script's statements runs once for all of
//! them.
//!
//! SQLite commits one transaction at a time, and each commit appends every
//! page it changed to the WAL. Concurrent refreshes change the same few
//! pages (the sessions table, the tail of the audit log, the index pages
//! near them), so committing them together writes each of those pages once
//! instead of once per call, and sends the writer thread one message
//! instead of one per call. A call that finds the writer idle runs at once,
//! alone: grouping adds no wait.
//!
//! The script is written for one call, each statement reading the call's
//! parameters from a `VALUES` row; a group runs it with one such row per
//! call ([`grouped_sql`]). So a group of 32 runs four statements, not 128:
//! SQLite's cost per statement (resetting it, opening its cursors) and the
//! connection's (one result sent back per statement) are paid once.
//!
//! Each call is answered only after its group committed. A group whose
//! script fails is rolled back and its calls run again one by one, so one
//! bad call fails alone.

use super::super::{StoreError, StoreResult};
use super::db::Waits;
use super::statement::{Fetch, Param, Row, Statement, run};
use sqlx::SqlitePool;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most calls one group holds. The script is prepared for groups of 1,
/// 2, 4, … `MOST` calls (`log2(MOST) + 1` forms); a group of another size
/// runs in the next larger form, the spare calls' parameters all NULL.
pub(crate) const MOST: usize = 32;

/// A row of a grouped script: the index of the call it answers (`$0` in the
/// body), then the row itself.
#[derive(sqlx::FromRow)]
pub(crate) struct Answer<T> {
    call: i64,
    #[sqlx(flatten)]
    row: T,
}

/// One write script, run in groups on SQLite's writer.
///
/// The body is the script's statements for one call, without `BEGIN` and
/// `COMMIT`. Its parameters `$1`…`$n` and `$0`, the call's index in its
/// group, appear only in `VALUES (…)` rows, which [`grouped_sql`] repeats
/// for each call of a group; each row the script answers must begin with
/// that index as `call`. A call whose parameters are all NULL must change
/// nothing and answer no row (a comparison with NULL is never true):
/// groups are padded with such calls. Dropping every clone stops the task
/// that runs the groups.
pub(crate) struct Grouped<R> {
    calls: mpsc::UnboundedSender<Call<R>>,
    /// How many groups have committed.
    #[cfg(test)]
    committed: Arc<std::sync::atomic::AtomicUsize>,
}

impl<R> std::fmt::Debug for Grouped<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").finish_non_exhaustive()
    }
}

impl<R> Clone for Grouped<R> {
    fn clone(&self) -> Self {
        Grouped {
            calls: self.calls.clone(),
            #[cfg(test)]
            committed: self.committed.clone(),
        }
    }
}

/// A call waiting for its group.
#[derive(Debug)]
struct Call<R> {
    params: Vec<Param<'static>>,
    answer: oneshot::Sender<StoreResult<Vec<R>>>,
}

impl<R: Row + 'static> Grouped<R> {
    /// Starts the task that runs `body`'s calls on `writer`, each with
    /// `arity` parameters.
    pub(crate) fn start(
        body: &'static str,
        arity: usize,
        writer: SqlitePool,
        waits: Arc<Waits>,
    ) -> Self {
        let (calls, queue) = mpsc::unbounded_channel();
        let forms = (0..=MOST.trailing_zeros())
            .map(|k| grouped_sql(body, 1 << k, arity))
            .collect();
        let grouped = Grouped {
            calls,
            #[cfg(test)]
            committed: Arc::default(),
        };
        tokio::spawn(
            Runner {
                forms,
                writer,
                waits,
                #[cfg(test)]
                committed: grouped.committed.clone(),
            }
            .serve(queue),
        );
        grouped
    }

    /// How many groups have committed.
    #[cfg(test)]
    pub(crate) fn committed(&self) -> usize {
        self.committed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one call with its `params` (`$1`…), answering its rows once the
    /// group holding it has committed.
    pub(crate) async fn call(&self, params: Vec<Param<'static>>) -> StoreResult<Vec<R>> {
        let (answer, answered) = oneshot::channel();
        self.calls
            .send(Call { params, answer })
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        answered
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
    }
}

/// The task that runs the groups, one at a time.
struct Runner {
    /// The script for groups of 1, 2, 4, … calls.
    forms: Vec<Form>,
    writer: SqlitePool,
    waits: Arc<Waits>,
    #[cfg(test)]
    committed: Arc<std::sync::atomic::AtomicUsize>,
}

impl Runner {
    async fn serve<R: Row>(self, mut queue: mpsc::UnboundedReceiver<Call<R>>) {
        let mut waiting = VecDeque::new();
        loop {
            if waiting.is_empty() {
                match queue.recv().await {
                    Some(call) => waiting.push_back(call),
                    None => return,
                }
            }
            while waiting.len() < MOST
                && let Ok(call) = queue.try_recv()
            {
                waiting.push_back(call);
            }
            let size = waiting.len().min(MOST);
            let group: Vec<Call<R>> = waiting.drain(..size).collect();
            self.run_group(group).await;
            // Yield once, so that the tasks just answered, and the requests
            // that arrived meanwhile, usually run before the next group
            // forms: on a busy core it then holds the calls they make, where
            // it would often be the one or two already waiting, each such
            // group a commit of its own.
            tokio::task::yield_now().await;
        }
    }

    /// Runs `group` in one transaction; if that fails, each call alone.
    async fn run_group<R: Row>(&self, group: Vec<Call<R>>) {
        let size = group.len();
        // Borrowed: each call's own parameters stay for the retry below.
        let params: Vec<Param<'_>> = group
            .iter()
            .flat_map(|c| c.params.iter().map(Param::borrowed))
            .collect();
        match self.run(size, params).await {
            Ok(rows) => {
                #[cfg(test)]
                self.committed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut answers: Vec<Vec<R>> = (0..size).map(|_| Vec::new()).collect();
                for Answer { call, row } in rows {
                    if let Some(answer) =
                        usize::try_from(call).ok().and_then(|i| answers.get_mut(i))
                    {
                        answer.push(row);
                    }
                }
                for (call, rows) in group.into_iter().zip(answers) {
                    // A caller that gave up has nothing to hear.
                    let _ = call.answer.send(Ok(rows));
                }
            }
            Err(error) if size == 1 => {
                if let Some(call) = group.into_iter().next() {
                    let _ = call.answer.send(Err(error));
                }
            }
            Err(_) => {
                for call in group {
                    let answer = self
                        .run(1, call.params)
                        .await
                        .map(|rows| rows.into_iter().map(|a| a.row).collect());
                    let _ = call.answer.send(answer);
                }
            }
        }
    }

    /// Runs the script for `size` calls with their `params`, rolling back
    /// when it fails. The smallest prepared form that holds them runs,
    /// its spare calls bound to NULL.
    async fn run<R: Row>(
        &self,
        size: usize,
        params: Vec<Param<'_>>,
    ) -> StoreResult<Vec<Answer<R>>> {
        let calls = size.next_power_of_two();
        let form = &self.forms[calls.ilog2() as usize];
        let bound = form
            .order
            .iter()
            .map(|&i| params.get(i).map_or(Param::Int(None), Param::borrowed))
            .collect();
        let mut connection = self.waits.timed(self.writer.acquire()).await?;
        let rows = run(
            &mut *connection,
            Statement::with(&form.sql, bound),
            Fetch::All,
        )
        .await;
        if rows.is_err() {
            // Fails harmlessly when no transaction is open (the failure was
            // BEGIN's own).
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        }
        Ok(rows?)
    }
}

/// How a `VALUES` row begins in a grouped script's body.
const ROW: &str = "VALUES (";

/// A grouped script as SQLite runs it.
#[derive(Debug, PartialEq)]
pub(crate) struct Form {
    /// The statements, their parameters written `?`. SQLite finds a
    /// parameter written `$n` by a walk through all of the statement's named
    /// parameters, so binding the hundreds of parameters of a group's
    /// statement by name took time growing with the square of their number
    /// (a quarter of the writer's time for a group of 32 rotations).
    pub(crate) sql: String,
    /// For each `?` in order, the index of the group's parameter it binds
    /// (the first call's `$1` is 0).
    pub(crate) order: Vec<usize>,
}

/// `body` for `size` calls between `BEGIN IMMEDIATE` and `COMMIT`: each of
/// its `VALUES (…)` rows repeated once per call, each copy's parameters
/// those of its call and its `$0` replaced by the call's index. A row holds
/// no parentheses of its own.
pub(crate) fn grouped_sql(body: &str, size: usize, arity: usize) -> Form {
    let mut form = Form {
        sql: String::from("BEGIN IMMEDIATE; "),
        order: Vec::new(),
    };
    let mut rest = body;
    while let Some(at) = rest.find(ROW) {
        let (head, tail) = rest.split_at(at + ROW.len() - 1);
        form.sql.push_str(head);
        let end = tail.find(')').map_or(tail.len(), |close| close + 1);
        for call in 0..size {
            if call > 0 {
                form.sql.push_str(", ");
            }
            form.push_row(&tail[..end], call, arity);
        }
        rest = &tail[end..];
    }
    form.sql.push_str(rest);
    form.sql.push_str("; COMMIT");
    form
}

impl Form {
    /// Appends `row` for the call `call`: its `$0` replaced by `call`, each
    /// `$n` by `?` binding the call's `n`th parameter.
    fn push_row(&mut self, row: &str, call: usize, arity: usize) {
        let mut rest = row;
        while let Some(at) = rest.find('$') {
            self.sql.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            match rest[at + 1..at + 1 + digits].parse::<usize>() {
                Ok(0) => self.sql.push_str(&call.to_string()),
                Ok(n) => {
                    debug_assert!(n <= arity, "${n} of a call with {arity} parameters");
                    self.sql.push('?');
                    self.order.push(call * arity + n - 1);
                }
                Err(_) => self.sql.push('$'),
            }
            rest = &rest[at + 1 + digits..];
        }
        self.sql.push_str(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::db::Db;

    #[test]
    fn each_values_row_is_repeated_with_its_calls_parameters_and_index() {
        let form = grouped_sql(
            "WITH v (i, x) AS (VALUES ($0, $2)) SELECT i AS call FROM v; \
             INSERT INTO t SELECT * FROM (VALUES ($1, '$', $2)) WHERE 1",
            3,
            2,
        );
        assert_eq!(
            form.sql,
            "BEGIN IMMEDIATE; \
             WITH v (i, x) AS (VALUES (0, ?), (1, ?), (2, ?)) SELECT i AS call FROM v; \
             INSERT INTO t SELECT * FROM (VALUES (?, '$', ?), (?, '$', ?), (?, '$', ?)) \
             WHERE 1; COMMIT"
        );
        // Call c's `$n` is the group's parameter 2c + n - 1.
        assert_eq!(form.order, [1, 3, 5, 0, 1, 2, 3, 4, 5]);
    }

    /// A writer on a fresh file with a table whose `x` is unique.
    async fn writer(dir: &tempfile::TempDir) -> (SqlitePool, Arc<Waits>) {
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let Db::Sqlite {
            writer,
            writer_waits,
            ..
        } = Db::sqlite(&url).await.unwrap()
        else {
            unreachable!()
        };
        sqlx::query("CREATE TABLE t (x INTEGER UNIQUE)")
            .execute(&writer)
            .await
            .unwrap();
        (writer, writer_waits)
    }

    /// A call whose `$1` is NULL inserts nothing and answers nothing.
    const BODY: &str = "WITH v (x) AS (VALUES ($1)) \
                          INSERT INTO t (x) SELECT x FROM v WHERE x IS NOT NULL; \
                        WITH v (i, x) AS (VALUES ($0, $1)) \
                          SELECT i AS call, x FROM v WHERE x IS NOT NULL";

    #[derive(sqlx::FromRow, Debug, PartialEq)]
    struct X {
        x: i64,
    }

    #[tokio::test]
    async fn concurrent_calls_commit_together_and_each_hears_its_own_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, waits) = writer(&dir).await;
        let grouped = Grouped::<X>::start(BODY, 1, writer.clone(), waits);
        let calls = (0..100i64).map(|x| {
            let grouped = grouped.clone();
            tokio::spawn(async move { grouped.call(vec![Param::Int(Some(x))]).await })
        });
        for (x, call) in (0..100i64).zip(calls.collect::<Vec<_>>()) {
            assert_eq!(call.await.unwrap().unwrap(), vec![X { x }]);
        }
        let groups = grouped.committed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            groups < 20,
            "100 calls made in one go ran as {groups} groups"
        );
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&writer)
            .await
            .unwrap();
        assert_eq!(count, 100);
    }

    #[tokio::test]
    async fn every_waiting_call_runs_in_one_group_whatever_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, waits) = writer(&dir).await;
        // Sent before the runner wakes (one thread): three calls wait, and
        // run in the form for four.
        let grouped = Grouped::<X>::start(BODY, 1, writer.clone(), waits);
        let calls: Vec<_> = [4, 5, 6]
            .into_iter()
            .map(|x| {
                let grouped = grouped.clone();
                tokio::spawn(async move { grouped.call(vec![Param::Int(Some(x))]).await })
            })
            .collect();
        for (x, call) in [4, 5, 6].into_iter().zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), vec![X { x }]);
        }
        assert_eq!(
            grouped.committed.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&writer)
            .await
            .unwrap();
        assert_eq!(count, 3, "the spare call inserted nothing");
    }

    #[tokio::test]
    async fn a_failing_call_fails_alone_and_the_others_of_its_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, waits) = writer(&dir).await;
        // The calls are all sent before the runner wakes (one thread), so
        // they run as one group of four.
        let grouped = Grouped::<X>::start(BODY, 1, writer.clone(), waits);
        let calls: Vec<_> = [1, 2, 2, 3]
            .into_iter()
            .map(|x| {
                let grouped = grouped.clone();
                tokio::spawn(async move { grouped.call(vec![Param::Int(Some(x))]).await })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap().map_err(|e| e.to_string()));
        }
        assert_eq!(answers[0], Ok(vec![X { x: 1 }]));
        assert_eq!(answers[3], Ok(vec![X { x: 3 }]));
        // Of the two calls inserting 2, one commits and the other fails.
        assert_eq!(
            answers[1..3].iter().filter(|a| a.is_ok()).count(),
            1,
            "{answers:?}"
        );
        let xs: Vec<(i64,)> = sqlx::query_as("SELECT x FROM t ORDER BY x")
            .fetch_all(&writer)
            .await
            .unwrap();
        assert_eq!(xs, vec![(1,), (2,), (3,)]);
        // The group of four failed; its calls then ran alone.
        assert_eq!(
            grouped.committed.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
}
