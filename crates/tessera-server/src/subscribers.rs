//! Who may hold a `GET /events` subscription. Slots go only to connections
//! that have authenticated; a person's subscriptions are capped per subject
//! and per client address, and part of the slots is kept for the admins and
//! `events:read` services that relying parties depend on. Connections still
//! waiting to send their first `auth` message sit in a bounded waiting room
//! where, when it is full, the address holding most places loses its oldest.
//! An IPv6 client is counted by its /64 network, which one host can fill
//! with addresses at will.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// Subscriptions one subject (a person) may hold at once: a few browser
/// tabs and devices, not a flood.
pub const PER_SUBJECT: usize = 16;
/// Subscriptions of people (not admins or services) from one client address.
pub const PER_ADDRESS: usize = 64;
/// The share of the slots kept for admins and `events:read` services
/// (one in eight, at least one).
const RESERVED_DIVISOR: usize = 8;

/// Why a subscription was refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot open to this kind of subscriber is taken.
    Full,
    /// The subject holds [`PER_SUBJECT`] subscriptions already.
    SubjectLimit,
    /// The client address holds [`PER_ADDRESS`] subscriptions already.
    AddressLimit,
}

/// The unit that the per-address caps count: an IPv4 address, or the /64
/// network of an IPv6 address (an IPv4-mapped one counts as IPv4).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

/// Who is asking for a slot.
#[derive(Debug, Clone)]
pub struct Applicant {
    /// The token's subject.
    pub subject: String,
    /// The client address, when known.
    pub ip: Option<IpAddr>,
    /// An admin or an `events:read` service: not capped per subject or
    /// address, and may use the reserved slots.
    pub privileged: bool,
}

/// The slots and the waiting room.
#[derive(Debug)]
pub struct Subscribers {
    /// Every slot.
    total: usize,
    /// Slots people may take (the rest are kept for privileged subscribers).
    unprivileged: usize,
    /// Places in the waiting room.
    waiting_capacity: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    open_unprivileged: usize,
    by_subject: HashMap<String, usize>,
    by_address: HashMap<IpAddr, usize>,
    next_ticket: u64,
    waiting: usize,
    /// Per address, its waiting connections oldest first, each with the
    /// sender that tells it to leave.
    waiting_by_address: HashMap<Option<IpAddr>, VecDeque<(u64, oneshot::Sender<()>)>>,
}

impl Subscribers {
    /// Room for `total` subscriptions and as many waiting connections.
    pub fn new(total: usize) -> Arc<Self> {
        let total = total.max(1);
        // One slot alone is everyone's; otherwise at least one is kept.
        let reserved = if total > 1 {
            (total / RESERVED_DIVISOR).max(1)
        } else {
            0
        };
        Arc::new(Subscribers {
            total,
            unprivileged: total - reserved,
            waiting_capacity: total,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent under a panic elsewhere: each update
        // is complete before the guard drops.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for `applicant`, held until the returned [`Slot`] drops.
    pub fn admit(self: &Arc<Self>, mut applicant: Applicant) -> Result<Slot, Refusal> {
        applicant.ip = applicant.ip.map(address_key);
        let mut c = self.counts();
        if c.open >= self.total {
            return Err(Refusal::Full);
        }
        if !applicant.privileged {
            if c.open_unprivileged >= self.unprivileged {
                return Err(Refusal::Full);
            }
            if c.by_subject.get(&applicant.subject).copied().unwrap_or(0) >= PER_SUBJECT {
                return Err(Refusal::SubjectLimit);
            }
            if let Some(ip) = applicant.ip
                && c.by_address.get(&ip).copied().unwrap_or(0) >= PER_ADDRESS
            {
                return Err(Refusal::AddressLimit);
            }
            c.open_unprivileged += 1;
            *c.by_subject.entry(applicant.subject.clone()).or_default() += 1;
            if let Some(ip) = applicant.ip {
                *c.by_address.entry(ip).or_default() += 1;
            }
        }
        c.open += 1;
        Ok(Slot {
            subscribers: Arc::clone(self),
            applicant,
        })
    }

    /// A place in the waiting room for a connection from `ip` that has not
    /// authenticated yet. When the room is full, the address with the most
    /// waiting connections loses its oldest one (its [`Waiting::evicted`]
    /// resolves), so a flood from one address cannot keep others out; among
    /// equally crowded addresses the longest waiting goes first, since an
    /// honest client authenticates within a round trip and a flood idles.
    pub fn wait(self: &Arc<Self>, ip: Option<IpAddr>) -> Waiting {
        let ip = ip.map(address_key);
        let (tx, rx) = oneshot::channel();
        let mut c = self.counts();
        if c.waiting >= self.waiting_capacity {
            let crowded = c
                .waiting_by_address
                .iter()
                .filter_map(|(address, q)| q.front().map(|(ticket, _)| (address, q.len(), *ticket)))
                .max_by_key(|(_, len, ticket)| (*len, std::cmp::Reverse(*ticket)))
                .map(|(address, _, _)| *address);
            if let Some(address) = crowded
                && let Some(queue) = c.waiting_by_address.get_mut(&address)
                && let Some((_, leave)) = queue.pop_front()
            {
                if queue.is_empty() {
                    c.waiting_by_address.remove(&address);
                }
                c.waiting -= 1;
                let _ = leave.send(());
            }
        }
        let ticket = c.next_ticket;
        c.next_ticket += 1;
        c.waiting += 1;
        c.waiting_by_address
            .entry(ip)
            .or_default()
            .push_back((ticket, tx));
        Waiting {
            subscribers: Arc::clone(self),
            ip,
            ticket,
            evicted: rx,
        }
    }

    /// Subscriptions open now.
    pub fn open(&self) -> usize {
        self.counts().open
    }
}

/// A subscription's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    subscribers: Arc<Subscribers>,
    applicant: Applicant,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.subscribers.counts();
        c.open = c.open.saturating_sub(1);
        if self.applicant.privileged {
            return;
        }
        c.open_unprivileged = c.open_unprivileged.saturating_sub(1);
        if let Some(n) = c.by_subject.get_mut(&self.applicant.subject) {
            *n -= 1;
            if *n == 0 {
                c.by_subject.remove(&self.applicant.subject);
            }
        }
        if let Some(ip) = self.applicant.ip
            && let Some(n) = c.by_address.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&ip);
            }
        }
    }
}

/// A place in the waiting room; dropping it leaves the room.
#[derive(Debug)]
pub struct Waiting {
    subscribers: Arc<Subscribers>,
    ip: Option<IpAddr>,
    ticket: u64,
    /// Resolves when the connection must leave to make room.
    pub evicted: oneshot::Receiver<()>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut c = self.subscribers.counts();
        let Some(queue) = c.waiting_by_address.get_mut(&self.ip) else {
            return;
        };
        let Some(position) = queue.iter().position(|(t, _)| *t == self.ticket) else {
            return;
        };
        queue.remove(position);
        if queue.is_empty() {
            c.waiting_by_address.remove(&self.ip);
        }
        c.waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(subject: &str, ip: &str) -> Applicant {
        Applicant {
            subject: subject.into(),
            ip: Some(ip.parse().unwrap()),
            privileged: false,
        }
    }

    fn service() -> Applicant {
        Applicant {
            subject: "svc".into(),
            ip: Some("10.0.0.1".parse().unwrap()),
            privileged: true,
        }
    }

    #[test]
    fn people_leave_room_for_services_and_slots_free_on_drop() {
        let subs = Subscribers::new(8);
        let people: Vec<Slot> = (0..7)
            .map(|i| subs.admit(person(&format!("p{i}"), "1.1.1.1")).unwrap())
            .collect();
        assert_eq!(
            subs.admit(person("late", "2.2.2.2")).unwrap_err(),
            Refusal::Full
        );
        let svc = subs.admit(service()).unwrap();
        assert_eq!(subs.admit(service()).unwrap_err(), Refusal::Full);
        drop(svc);
        drop(people);
        assert_eq!(subs.open(), 0);
        assert!(subs.admit(person("late", "2.2.2.2")).is_ok());
    }

    #[test]
    fn one_subject_and_one_address_are_capped_but_services_are_not() {
        let subs = Subscribers::new(1024);
        let tabs: Vec<Slot> = (0..PER_SUBJECT)
            .map(|i| subs.admit(person("ann", &format!("1.1.1.{i}"))).unwrap())
            .collect();
        assert_eq!(
            subs.admit(person("ann", "9.9.9.9")).unwrap_err(),
            Refusal::SubjectLimit
        );
        let crowd: Vec<Slot> = (0..PER_ADDRESS)
            .map(|i| subs.admit(person(&format!("n{i}"), "5.5.5.5")).unwrap())
            .collect();
        assert_eq!(
            subs.admit(person("bob", "5.5.5.5")).unwrap_err(),
            Refusal::AddressLimit
        );
        let services: Vec<Slot> = (0..PER_SUBJECT + 1)
            .map(|_| subs.admit(service()).unwrap())
            .collect();
        drop((tabs, crowd, services));
        assert_eq!(subs.open(), 0);
    }

    #[test]
    fn a_full_waiting_room_evicts_the_oldest_of_the_most_crowded_address() {
        let subs = Subscribers::new(3);
        let flood = Some("6.6.6.6".parse().unwrap());
        let mut first = subs.wait(flood);
        let _second = subs.wait(flood);
        let mut honest = subs.wait(Some("1.1.1.1".parse().unwrap()));
        assert!(first.evicted.try_recv().is_err());
        let _third = subs.wait(flood);
        assert!(
            first.evicted.try_recv().is_ok(),
            "the flood's oldest leaves"
        );
        assert!(
            honest.evicted.try_recv().is_err(),
            "the other address stays"
        );
        drop(first);
        assert_eq!(subs.counts().waiting, 3);
    }

    #[test]
    fn among_equally_crowded_addresses_the_longest_waiting_leaves() {
        let subs = Subscribers::new(3);
        let mut rooms: Vec<Waiting> = (1..=3)
            .map(|i| subs.wait(Some(format!("6.6.6.{i}").parse().unwrap())))
            .collect();
        let mut honest = subs.wait(Some("1.1.1.1".parse().unwrap()));
        assert!(rooms[0].evicted.try_recv().is_ok(), "the oldest leaves");
        assert!(rooms[1].evicted.try_recv().is_err());
        let _next = subs.wait(Some("6.6.6.9".parse().unwrap()));
        assert!(rooms[1].evicted.try_recv().is_ok());
        assert!(honest.evicted.try_recv().is_err(), "the newer one stays");
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let subs = Subscribers::new(1024);
        let slots: Vec<Slot> = (0..PER_ADDRESS)
            .map(|i| {
                subs.admit(person(&format!("p{i}"), &format!("2001:db8::{i:x}")))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            subs.admit(person("q", "2001:db8::ffff:1")).unwrap_err(),
            Refusal::AddressLimit
        );
        assert!(
            subs.admit(person("q", "2001:db8:0:1::1")).is_ok(),
            "another /64"
        );
        assert_eq!(
            address_key("::ffff:1.2.3.4".parse().unwrap()).to_string(),
            "1.2.3.4"
        );
        drop(slots);
    }
}
