//! How N replicas share this machine: ports, threads, cores. Pure arithmetic, apart from
//! asking the OS for free ports and for the cores this process may use.

use std::io;
use std::net::TcpListener;

/// One replica's share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub port: u16,
    pub threads: usize,
    /// CPU cores to pin it to; empty when pinning is off or not possible here.
    pub cores: Vec<usize>,
}

/// Splits `threads` and `cores` over `replicas` (≥ 1): threads as evenly as possible (each at
/// least 1, the first ones one more when it does not divide), cores in contiguous runs (so
/// a replica's threads share caches), or one core each, reused in turn, when there are fewer
/// cores than replicas. Ports are left 0 for [`assign_free_ports`].
pub fn plan(replicas: usize, threads: usize, cores: &[usize]) -> Vec<Slot> {
    let n = replicas.max(1);
    (0..n)
        .map(|index| Slot {
            index,
            port: 0,
            threads: (threads / n + usize::from(index < threads % n)).max(1),
            cores: cores_of(index, n, cores),
        })
        .collect()
}

fn cores_of(index: usize, n: usize, cores: &[usize]) -> Vec<usize> {
    if cores.is_empty() {
        return Vec::new();
    }
    if cores.len() < n {
        return vec![cores[index % cores.len()]];
    }
    let (base, extra) = (cores.len() / n, cores.len() % n);
    let start = index * base + index.min(extra);
    let len = base + usize::from(index < extra);
    cores[start..start + len].to_vec()
}

/// Gives each slot a port that is free on 127.0.0.1 now. All listeners are held until every
/// port is chosen, so the ports differ; another program could still take one before the
/// replica binds it, and that replica then fails and is restarted (on the same port).
pub fn assign_free_ports(slots: &mut [Slot]) -> io::Result<()> {
    let listeners = slots
        .iter()
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    for (slot, listener) in slots.iter_mut().zip(&listeners) {
        slot.port = listener.local_addr()?.port();
    }
    Ok(())
}

/// The cores this process may run on (its affinity mask, so a `taskset` or cgroup limit on
/// `sluice serve` is respected); empty where the OS does not say.
pub fn usable_cores() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{sched_getaffinity, CpuSet};
        use nix::unistd::Pid;
        if let Ok(set) = sched_getaffinity(Pid::from_raw(0)) {
            return (0..CpuSet::count())
                .filter(|&c| set.is_set(c).unwrap_or(false))
                .collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(replicas: usize, threads: usize, cores: &[usize]) -> Vec<(usize, Vec<usize>)> {
        plan(replicas, threads, cores)
            .into_iter()
            .map(|s| (s.threads, s.cores))
            .collect()
    }

    #[test]
    fn splits_threads_and_cores_evenly() {
        assert_eq!(
            shares(2, 8, &[0, 1, 2, 3, 4, 5, 6, 7]),
            [(4, vec![0, 1, 2, 3]), (4, vec![4, 5, 6, 7])]
        );
        assert_eq!(
            shares(3, 7, &[0, 2, 4, 6, 8]),
            [(3, vec![0, 2]), (2, vec![4, 6]), (2, vec![8])]
        );
    }

    #[test]
    fn more_replicas_than_cores_or_threads() {
        assert_eq!(
            shares(3, 2, &[5, 6]),
            [(1, vec![5]), (1, vec![6]), (1, vec![5])]
        );
        assert_eq!(shares(2, 0, &[]), [(1, vec![]), (1, vec![])]);
        assert_eq!(plan(0, 4, &[]).len(), 1);
    }

    #[test]
    fn free_ports_differ() {
        let mut slots = plan(4, 4, &[]);
        assign_free_ports(&mut slots).unwrap();
        let mut ports: Vec<u16> = slots.iter().map(|s| s.port).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 4);
        assert!(ports.iter().all(|&p| p != 0));
    }
}
