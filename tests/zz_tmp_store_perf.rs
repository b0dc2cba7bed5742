use ringmq::store::consume_queue::{ConsumeQueue, Unit};
use ringmq::store::index::IndexStore;
use std::time::Instant;

#[test]
fn perf() {
    let dir = std::env::temp_dir().join(format!("ringmq-perf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut queue = ConsumeQueue::open(&dir.join("cq"), 6_000_000).unwrap();
    let n = 2_000_000i64;
    let start = Instant::now();
    for i in 0..n {
        queue.append(i, Unit { commit_log_offset: i * 200, size_bytes: 200, tags_code: i }).unwrap();
    }
    queue.flush().unwrap();
    let elapsed = start.elapsed();
    println!("cq append: {:.0}/s", n as f64 / elapsed.as_secs_f64());
    let start = Instant::now();
    let mut total = 0;
    let mut offset = 0;
    while offset < n { let units = queue.read(offset, 32).unwrap(); offset += units.len() as i64; total += units.len(); }
    println!("cq read 32: {:.0} units/s {}", total as f64 / start.elapsed().as_secs_f64(), total);
    let start = Instant::now();
    let found = queue.search_offset_by_timestamp(n / 2 * 10, |u| Some(u.tags_code * 10)).unwrap();
    println!("search {found} {:?}", start.elapsed());
    let start = Instant::now();
    queue.sync().unwrap();
    println!("sync {:?}", start.elapsed());

    let mut index = IndexStore::open(&dir.join("index"), 5_000_000, 20_000_000).unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("TopicTest#UNIQ{i:020}")).collect();
    let start = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        index.put(key, i as i64 * 200, 1_700_000_000_000 + i as i64).unwrap();
    }
    let elapsed = start.elapsed();
    println!("index put: {:.0}/s", n as f64 / elapsed.as_secs_f64());
    let start = Instant::now();
    index.sync().unwrap();
    println!("index sync {:?}", start.elapsed());
    let start = Instant::now();
    for i in (0..n).step_by(1000) { let found = index.query(&keys[i as usize], 64, 0, i64::MAX).unwrap(); assert!(found.contains(&(i * 200))); }
    println!("index query x2000 {:?}", start.elapsed());
    drop(index);
    let start = Instant::now();
    let index = IndexStore::open(&dir.join("index"), 5_000_000, 20_000_000).unwrap();
    println!("index reopen {:?}", start.elapsed());
    assert!(index.query(&keys[12345], 64, 0, i64::MAX).unwrap().contains(&(12345 * 200)));
    std::fs::remove_dir_all(&dir).unwrap();
}
