//! The seed audit-event table, as data, rendered as a table in the `audit` module docs.
//! This is the union of both published versions of the seed table (renamed events appear under
//! each name, argument lists are merged); names keep the seed spelling as stable identifiers.

catalog! {
    "asyncutils.altlocks.CircuitBreaker" (name, max_fails) in "locks" =>
        "A circuit breaker named `name` was constructed; `max_fails` consecutive failures will trip it open.";
    "asyncutils.altlocks.CircuitBreaker.__call__" (name, fname) in "locks" =>
        "The circuit breaker `name` was wrapped around the function called `fname`.";
    "asyncutils.altlocks.UniqueResourceGuard" (rtyp) in "locks" =>
        "A unique-resource guard was constructed; `rtyp` is the type name of the resource it protects.";
    "asyncutils.base.aiter_to_gen" (tname) in "stream" =>
        "An async stream is being adapted into a blocking iterator; `tname` is the type name of the source stream.";
    "asyncutils.base.iter_to_agen" (tname) in "stream" =>
        "A blocking iterator is being adapted into an async stream; `tname` is the type name of the source iterator.";
    "asyncutils.base.safe_cancel_batch" (ityp) in "task" =>
        "A batch of tasks is being cancelled safely; `ityp` is the type name of the (sync or async) collection holding them.";
    "asyncutils.buckets.LeakyBucket" (capacity, leak) in "buckets" =>
        "A leaky bucket was created; `capacity` is how many tokens it can hold and `leak` the rate at which they drain.";
    "asyncutils.buckets.TokenBucket" (rate, capacity) in "buckets" =>
        "A token bucket was created; `rate` is its refill rate in tokens per second and `capacity` its burst size.";
    "asyncutils.caches.AsyncLRUCache" (maxsize, ttl) in "cache" =>
        "An async LRU cache was created holding at most `maxsize` entries, each living for `ttl` (or forever when unset).";
    "asyncutils.caches.CacheWithBackgroundRefresh" (ttl, refresh) in "cache" =>
        "A background-refreshing cache was created; `ttl` is the entry lifetime and `refresh` how long before expiry a refresh starts.";
    "asyncutils.channels.EventBus" (name, addr) in "channels" =>
        "An event bus was created; `name` is its optional name and `addr` the instance address.";
    "asyncutils.channels.EventBus.event_stream" (addr, event_type) in "channels" =>
        "A subscriber stream was opened on the bus at `addr`; `event_type` is the event it filters on, or unset for a catch-all stream.";
    "asyncutils.channels.EventBus.start_audit" (addr) in "channels" =>
        "The event bus at instance address `addr` began forwarding audit events to its subscribers.";
    "asyncutils.channels.EventBus.stop_audit" (addr) in "channels" =>
        "The event bus at instance address `addr` stopped forwarding audit events.";
    "asyncutils.channels.Observable" (maxsize) in "channels" =>
        "An observable was created; `maxsize` bounds the notifications queued behind a running one, or is unset when unbounded.";
    "asyncutils.cli.run" () in "cli" =>
        "The command-line tool started, including runs that only print help or the version.";
    "asyncutils.compete.first_completed/end" (ntasks) in "compete" =>
        "A first-completed race over `ntasks` futures has finished.";
    "asyncutils.compete.first_completed/start" (ntasks) in "compete" =>
        "A first-completed race over `ntasks` futures is starting.";
    "asyncutils.compete.multi_winner_race_with_callback/end" (ntasks) in "compete" =>
        "A race admitting several winners, with a callback, over `ntasks` futures has finished.";
    "asyncutils.compete.multi_winner_race_with_callback/start" (ntasks) in "compete" =>
        "A race admitting several winners, with a callback, over `ntasks` futures is starting.";
    "asyncutils.compete.race_with_callback/end" (ntasks) in "compete" =>
        "A race with a winner callback over `ntasks` futures has finished.";
    "asyncutils.compete.race_with_callback/start" (ntasks) in "compete" =>
        "A race with a winner callback over `ntasks` futures is starting.";
    "asyncutils.console.AsyncUtilsConsole.run" (addr) in "cli" =>
        "The interactive console at instance address `addr` entered its run loop.";
    "asyncutils.exceptions.raise_exc" (exc) in "error" =>
        "The error `exc` is about to be raised, giving hooks a last chance to inspect or reject it.";
    "asyncutils.exceptions.unnest" (n) in "error" =>
        "Nested error groups are being flattened; `n` is a rough lower bound on how many errors are involved.";
    "asyncutils.exceptions.unnest_reverse" (n) in "error" =>
        "Nested error groups are being flattened in reverse order; `n` is a rough lower bound on how many errors are involved.";
    "asyncutils.func.RateLimited" (fname, calls, period) in "limit" =>
        "A rate-limited wrapper was built around `fname`, allowing `calls` invocations per window of `period` seconds.";
    "asyncutils.func.benchmark" (fname, total_rounds) in "task" =>
        "A benchmark of the function `fname` is starting; `total_rounds` counts all rounds, warm-up included.";
    "asyncutils.futures.AsyncCallbacksFuture/schedule_callbacks" (addr) in "task" =>
        "A future with async callbacks at instance address `addr` is scheduling its sync and async callbacks.";
    "asyncutils.futures.AsyncCallbacksTask/schedule_callbacks" (addr) in "task" =>
        "A task with async callbacks at instance address `addr` is scheduling its sync and async callbacks.";
    "asyncutils.futures.EagerAsyncCallbacksFuture/schedule_callbacks" (addr) in "task" =>
        "An eager future with async callbacks at instance address `addr` is scheduling its sync and async callbacks.";
    "asyncutils.futures.EagerAsyncCallbacksTask/schedule_callbacks" (addr) in "task" =>
        "An eager task with async callbacks at instance address `addr` is scheduling its sync and async callbacks.";
    "asyncutils.io.double_ended_pipe" (reader1, writer1, reader2, writer2) in "codec" =>
        "A bidirectional pipe pair (text or binary) was opened; the arguments are the reader and writer descriptors of each direction.";
    "asyncutils.iterclasses.online_sorter" () in "stream" =>
        "An incremental (online) sorter was created.";
    "asyncutils.iters.acat" (first) in "stream" =>
        "A concatenating stream was started; `first` is the item it yields first.";
    "asyncutils.iters.aforever" () in "stream" =>
        "An endless repeating stream was created.";
    "asyncutils.iters.agetitems_from_indices" (tname) in "stream" =>
        "Items are being picked by index from a source whose type name is `tname`.";
    "asyncutils.iters.aintersend" (tname1, tname2) in "stream" =>
        "Two async generators of type names `tname1` and `tname2` are being wired to feed each other.";
    "asyncutils.iters.aonline_sorter" (iaddr) in "stream" =>
        "An online sorter was started over a (sync or async) source at address `iaddr`.";
    "asyncutils.iters.asendstream" (tname1, tname2) in "stream" =>
        "An async generator of type name `tname1` is being fed values from a source of type name `tname2`.";
    "asyncutils.locksmiths.LocksmithBase.force" (saddr, laddr) in "locks" =>
        "A locksmith at address `saddr` is forcing the lock at address `laddr`; a hook may veto this by failing.";
    "asyncutils.misc.CacheWithBackgroundRefresh" (ttl, refresh) in "cache" =>
        "Later name of the background-refreshing cache creation event; `ttl` is the entry lifetime and `refresh` the lead time before expiry.";
    "asyncutils.networking.CRLFProtocol" () in "codec" =>
        "A protocol codec splitting on CRLF line endings was created.";
    "asyncutils.networking.CRProtocol" () in "codec" =>
        "A protocol codec splitting on CR line endings was created.";
    "asyncutils.networking.LFProtocol" () in "codec" =>
        "A protocol codec splitting on LF line endings was created.";
    "asyncutils.networking.LineProtocol" () in "codec" =>
        "A line-delimited protocol codec was created.";
    "asyncutils.networking.SocketTransport" () in "codec" =>
        "A socket transport was created.";
    "asyncutils.queues.SmartLifoQueue.enumerate" (addr) in "queues" =>
        "Items of the smart LIFO queue at instance address `addr` are being paired with their indices.";
    "asyncutils.queues.SmartLifoQueue.filter" (addr, fname) in "queues" =>
        "The smart LIFO queue at `addr` is being filtered by the predicate `fname`.";
    "asyncutils.queues.SmartLifoQueue.map" (addr, fname) in "queues" =>
        "The smart LIFO queue at `addr` is being mapped through the function `fname`.";
    "asyncutils.queues.SmartLifoQueue.push" (addr, pushed, popped) in "queues" =>
        "A push onto a full smart LIFO queue at `addr` evicted an item; `pushed` is the new item and `popped` the evicted one.";
    "asyncutils.queues.SmartLifoQueue.starmap" (addr, fname) in "queues" =>
        "The smart LIFO queue at `addr` is being mapped through `fname` with each item spread as arguments.";
    "asyncutils.queues.SmartLifoQueue.transaction/end" (addr) in "queues" =>
        "A transaction on the smart LIFO queue at instance address `addr` ended, whether committed or rolled back.";
    "asyncutils.queues.SmartLifoQueue.transaction/start" (addr) in "queues" =>
        "A transaction began on the smart LIFO queue at instance address `addr`.";
    "asyncutils.queues.SmartPriorityQueue.enumerate" (addr) in "queues" =>
        "Items of the smart priority queue at instance address `addr` are being paired with their indices.";
    "asyncutils.queues.SmartPriorityQueue.filter" (addr, fname) in "queues" =>
        "The smart priority queue at `addr` is being filtered by the predicate `fname`.";
    "asyncutils.queues.SmartPriorityQueue.map" (addr, fname) in "queues" =>
        "The smart priority queue at `addr` is being mapped through the function `fname`.";
    "asyncutils.queues.SmartPriorityQueue.push" (addr, pushed, popped) in "queues" =>
        "A push onto a full smart priority queue at `addr` evicted an item; `pushed` is the new item and `popped` the evicted one.";
    "asyncutils.queues.SmartPriorityQueue.starmap" (addr, fname) in "queues" =>
        "The smart priority queue at `addr` is being mapped through `fname` with each item spread as arguments.";
    "asyncutils.queues.SmartPriorityQueue.transaction/end" (addr) in "queues" =>
        "A transaction on the smart priority queue at instance address `addr` ended, whether committed or rolled back.";
    "asyncutils.queues.SmartPriorityQueue.transaction/start" (addr) in "queues" =>
        "A transaction began on the smart priority queue at instance address `addr`.";
    "asyncutils.queues.SmartQueue.enumerate" (addr) in "queues" =>
        "Items of the smart FIFO queue at instance address `addr` are being paired with their indices.";
    "asyncutils.queues.SmartQueue.filter" (addr, fname) in "queues" =>
        "The smart FIFO queue at `addr` is being filtered by the predicate `fname`.";
    "asyncutils.queues.SmartQueue.map" (addr, fname) in "queues" =>
        "The smart FIFO queue at `addr` is being mapped through the function `fname`.";
    "asyncutils.queues.SmartQueue.push" (addr, pushed, popped) in "queues" =>
        "A push onto a full smart FIFO queue at `addr` evicted an item; `pushed` is the new item and `popped` the evicted one.";
    "asyncutils.queues.SmartQueue.starmap" (addr, fname) in "queues" =>
        "The smart FIFO queue at `addr` is being mapped through `fname` with each item spread as arguments.";
    "asyncutils.queues.SmartQueue.transaction/end" (addr) in "queues" =>
        "A transaction on the smart FIFO queue at instance address `addr` ended, whether committed or rolled back.";
    "asyncutils.queues.SmartQueue.transaction/start" (addr) in "queues" =>
        "A transaction began on the smart FIFO queue at instance address `addr`.";
    "asyncutils.queues.UserPriorityQueue.enumerate" (addr) in "queues" =>
        "Items of the user-keyed priority queue at instance address `addr` are being paired with their indices.";
    "asyncutils.queues.UserPriorityQueue.filter" (addr, fname) in "queues" =>
        "The user-keyed priority queue at `addr` is being filtered by the predicate `fname`.";
    "asyncutils.queues.UserPriorityQueue.map" (addr, fname) in "queues" =>
        "The user-keyed priority queue at `addr` is being mapped through the function `fname`.";
    "asyncutils.queues.UserPriorityQueue.push" (addr, pushed, popped) in "queues" =>
        "A push onto a full user-keyed priority queue at `addr` evicted an item; `pushed` is the new item and `popped` the evicted one.";
    "asyncutils.queues.UserPriorityQueue.starmap" (addr, fname) in "queues" =>
        "The user-keyed priority queue at `addr` is being mapped through `fname` with each item spread as arguments.";
    "asyncutils.queues.UserPriorityQueue.transaction/end" (addr) in "queues" =>
        "A transaction on the user-keyed priority queue at instance address `addr` ended, whether committed or rolled back.";
    "asyncutils.queues.UserPriorityQueue.transaction/start" (addr) in "queues" =>
        "A transaction began on the user-keyed priority queue at instance address `addr`.";
    "asyncutils.queues.password_queue" (get_from, put_from) in "queues" =>
        "A password-protected queue was made; `get_from` and `put_from` name where the get and put secrets come from, never the secrets themselves.";
    "asyncutils.signals.wait_for_signal" (sigs) in "signals" =>
        "A wait on the signal numbers in `sigs` is starting; hooks may edit that set and the wait honours the change.";
    "asyncutils.util.sync_await" (atname) in "rt" =>
        "A future is being driven to completion from blocking code; `atname` is the type name of that future.";
    "asyncutils.util.to_async" (fname) in "rt" =>
        "The blocking function `fname` is being wrapped to run as async.";
    "asyncutils.util.to_sync" (fname) in "rt" =>
        "The async function `fname` is being wrapped to run as blocking.";
    "asyncutils/create_executor" (fname) in "rt" =>
        "An executor of the configured kind is being created; `fname` names the requesting item as `module.function`.";
    "asyncutils/discontinue_config" (cfg_path) in "config" =>
        "The configuration file at `cfg_path` is dropped because its `next_config` entry is empty or null.";
    "asyncutils/get_loop_and_set" (loop) in "rt" =>
        "The runtime handle for the current thread was fetched or created and installed if none was set; `loop` carries that handle.";
    "asyncutils/read_config" (cfg_path) in "config" =>
        "The JSON configuration file at `cfg_path` (possibly relative) is about to be read.";
    "asyncutils/recurse_configs" (cwd) in "config" =>
        "No config-file environment variable is set, so the search for a project config walks up from the working directory `cwd`.";
    "asyncutils/recurse_dirs" (cwd) in "config" =>
        "Later name of the upward config search: no config-file environment variable is set, so the walk starts at working directory `cwd`.";
    "asyncutils/set_next_config" (old_path, new_path) in "config" =>
        "A `next_config` entry is switching configuration from the file at `old_path` to the file at `new_path`.";
    "asyncutils/try_config" (level) in "config" =>
        "A candidate project config file was found `level` directories above the working directory, before it is parsed.";
}
