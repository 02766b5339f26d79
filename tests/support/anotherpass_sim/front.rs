//! The listening socket clients connect to. It relays each connection to the tiny_http server on
//! a private port and keeps the client socket, so the simulator can do what tiny_http cannot:
//! close a connection without sending a byte, stop listening (server shut down, phone off the
//! network) and listen again on the same port.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

type Conns = Arc<Mutex<HashMap<SocketAddr, TcpStream>>>;

pub struct Front {
    addr: SocketAddr,
    inner: SocketAddr,
    /// Client sockets by the local address of their relay connection (what tiny_http reports
    /// as the request's remote address).
    conns: Conns,
    acceptor: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Front {
    pub fn start(bind: SocketAddr, inner: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let front = Self {
            addr: listener.local_addr()?,
            inner,
            conns: Arc::default(),
            acceptor: Mutex::new(None),
        };
        front.spawn_acceptor(listener);
        Ok(front)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_listening(&self) -> bool {
        self.acceptor.lock().expect("front lock").is_some()
    }

    fn spawn_acceptor(&self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let (conns, inner, stopping) = (self.conns.clone(), self.inner, stop.clone());
        let handle = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = stream {
                    let _ = relay(client, inner, &conns);
                }
            }
        });
        *self.acceptor.lock().expect("front lock") = Some((stop, handle));
    }

    /// Closes the client side of the connection that tiny_http sees as `relay_peer`, before any
    /// reply byte reached it. `false` if that connection is already gone.
    pub fn kill(&self, relay_peer: SocketAddr) -> bool {
        match self.conns.lock().expect("front lock").remove(&relay_peer) {
            Some(client) => client.shutdown(Shutdown::Both).is_ok(),
            None => false,
        }
    }

    /// Stops listening (new connections are refused); with `close_existing`, also closes every
    /// open connection.
    pub fn go_down(&self, close_existing: bool) {
        // Held until the listener is closed: a `go_up` in between (the owner logging in right
        // after the 401) would fail to bind the address still in use and stay down.
        let mut acceptor = self.acceptor.lock().expect("front lock");
        if let Some((stop, handle)) = acceptor.take() {
            stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept; the thread then drops the listener.
            let _ = TcpStream::connect(wake_addr(self.addr));
            let _ = handle.join();
        }
        drop(acceptor);
        if close_existing {
            for (_, client) in self.conns.lock().expect("front lock").drain() {
                let _ = client.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same address.
    pub fn go_up(&self) -> io::Result<()> {
        if self.is_listening() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)?;
        self.spawn_acceptor(listener);
        Ok(())
    }
}

/// An unspecified bind address is reached through loopback.
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

fn relay(client: TcpStream, inner: SocketAddr, conns: &Conns) -> io::Result<()> {
    let upstream = TcpStream::connect(inner)?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let key = upstream.local_addr()?;
    conns
        .lock()
        .expect("front lock")
        .insert(key, client.try_clone()?);

    let (mut from_client, mut to_upstream) = (client.try_clone()?, upstream.try_clone()?);
    thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let (mut from_upstream, mut to_client, conns) = (upstream, client, conns.clone());
    thread::spawn(move || {
        let _ = io::copy(&mut from_upstream, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
        let _ = from_upstream.shutdown(Shutdown::Both);
        conns.lock().expect("front lock").remove(&key);
    });
    Ok(())
}
