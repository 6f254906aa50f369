//! Answers that leave together. A connection that has read a request lets
//! the other connections with work ready take their turn before it writes
//! the answer, so the answers of one pass over the ready connections go out
//! back to back. A client waiting on many connections (a proxy, a load
//! balancer, a gateway on the same host) is then woken once for the lot
//! rather than once per answer. Under load, waking a sleeping process on
//! another core took a tenth of the CPU of an answer that checks a
//! signature (BENCHMARKS.md).
//!
//! The wait is one turn of the runtime's queue: only connections that are
//! already ready run before the write, so an idle server answers at once.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose first write after each read of new bytes waits one turn.
#[derive(Debug)]
pub struct AnswerTurn<S> {
    inner: S,
    /// Whether the writes since the last read have had their turn.
    had_turn: bool,
}

impl<S> AnswerTurn<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        AnswerTurn {
            inner,
            had_turn: false,
        }
    }

    /// Ready once the writes since the last read have waited their turn:
    /// the first call wakes the task again and returns `Pending`, which puts
    /// it at the back of the runtime's queue.
    fn take_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.had_turn {
            return Poll::Ready(());
        }
        self.had_turn = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AnswerTurn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.had_turn = false;
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AnswerTurn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.take_turn(cx));
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.take_turn(cx));
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Wake, Waker};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn read_once<S: AsyncRead + Unpin>(stream: &mut AnswerTurn<S>, cx: &mut Context<'_>) -> usize {
        let mut bytes = [0; 64];
        let mut buf = ReadBuf::new(&mut bytes);
        match Pin::new(stream).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => buf.filled().len(),
            other => panic!("the read did not complete: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_first_write_after_each_read_waits_one_turn() {
        let (mut client, server) = duplex(1024);
        let mut server = AnswerTurn::new(server);
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut write = |server: &mut AnswerTurn<tokio::io::DuplexStream>| {
            Pin::new(server).poll_write(&mut cx, b"answer")
        };

        // A write before anything was read waits too (a fresh connection).
        client.write_all(b"request").await.unwrap();
        assert!(write(&mut server).is_pending());
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the task is woken to come back"
        );
        assert!(matches!(write(&mut server), Poll::Ready(Ok(6))));
        assert!(
            matches!(write(&mut server), Poll::Ready(Ok(6))),
            "later writes of the same answer go straight out"
        );
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);

        let mut cx = Context::from_waker(&waker);
        assert_eq!(read_once(&mut server, &mut cx), 7);
        let mut cx = Context::from_waker(&waker);
        assert!(
            Pin::new(&mut server)
                .poll_write(&mut cx, b"next")
                .is_pending(),
            "the next answer waits its turn again"
        );
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            Pin::new(&mut server).poll_write(&mut cx, b"next"),
            Poll::Ready(Ok(4))
        ));
        assert!(Pin::new(&mut server).poll_flush(&mut cx).is_ready());

        let mut received = [0; 16];
        let n = client.read(&mut received).await.unwrap();
        assert_eq!(&received[..n], b"answeranswernext");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_of_ready_connections_leave_after_each_has_read() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (mut client, server) = duplex(1024);
            client.write_all(b"request").await.unwrap();
            clients.push(client);
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut server = AnswerTurn::new(server);
                let mut request = [0; 7];
                server.read_exact(&mut request).await.unwrap();
                log.lock().unwrap().push(format!("read {i}"));
                server.write_all(b"answer").await.unwrap();
                log.lock().unwrap().push(format!("wrote {i}"));
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *log.lock().unwrap(),
            [
                "read 0", "read 1", "read 2", "wrote 0", "wrote 1", "wrote 2"
            ]
        );
        for mut client in clients {
            let mut answer = [0; 6];
            client.read_exact(&mut answer).await.unwrap();
            assert_eq!(&answer, b"answer");
        }
    }
}
