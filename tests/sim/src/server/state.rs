//! The state the server tasks of one cluster share: store, faults, authentication, request log,
//! open watches and shutdown.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::record::RequestRecord;
use crate::faults::Faults;
use crate::store::Store;

/// State shared by the server tasks of one cluster.
pub(crate) struct ClusterState {
    pub(crate) name: String,
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) token: Option<String>,
    pub(crate) log: Mutex<VecDeque<RequestRecord>>,
    pub(crate) log_limit: usize,
    pub(crate) bookmark_interval: Duration,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Open watches per resource (`group/plural`).
    pub(crate) watches: Mutex<std::collections::HashMap<String, usize>>,
}
