//! Opening event streams and feeding their queues.

use super::registry::{Callback, Entry, Topic};
use super::stream::{Push, StreamQueue, TryPush};
use super::{
    AllEvents, DEFAULT_STREAM_BUFFER, EventBus, EventStream, Feed, FeedError, Shared,
    StreamOptions, StreamSlot, exact_topic,
};
use crate::audit::Value;
use crate::error::InvalidArgument;
use crate::loom::Arc;
use crate::time::Clock;

impl<T, C> EventBus<T, C>
where
    T: Clone + Send + 'static,
    C: Clock + Send + Sync + 'static,
{
    // --- streams ---

    /// A stream of the data of every `event_type` event, with the default
    /// [`StreamOptions`]; see [`EventStream`].
    ///
    /// Raises `asyncutils.channels.EventBus.event_stream` with `addr` and
    /// `event_type`.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](EventBus::subscribe).
    pub fn event_stream(&self, event_type: &str) -> Result<EventStream<'_, T, C>, InvalidArgument> {
        self.event_stream_with(event_type, StreamOptions::new())
    }

    /// [`event_stream`](EventBus::event_stream) with `options`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `event_type` as for
    /// [`subscribe`](EventBus::subscribe), or `buffer` if it is zero.
    pub fn event_stream_with(
        &self,
        event_type: &str,
        options: StreamOptions,
    ) -> Result<EventStream<'_, T, C>, InvalidArgument> {
        let Topic::Exact(key) = exact_topic(event_type)? else {
            unreachable!("exact_topic gives an exact topic")
        };
        options.validate()?;
        let (queue, reader) = {
            let mut state = self.shared.state.lock();
            let closed = self.shared.close_mode();
            let state = &mut *state;
            let slot = state
                .streams
                .entry(key.clone())
                .or_insert_with(|| StreamSlot {
                    queue: Arc::new(StreamQueue::new(options.buffer_size(), closed)),
                    subscription: None,
                });
            let reader = slot.queue.attach(None);
            if slot.subscription.is_none() {
                let id = state.next_id;
                state.next_id += 1;
                slot.subscription = Some(id);
                state.registry.insert(
                    &Topic::Exact(key.clone()),
                    Entry {
                        id,
                        callback: Callback::Stream(slot.queue.clone()),
                    },
                );
            }
            (slot.queue.clone(), reader)
        };
        crate::emit!(
            "asyncutils.channels.EventBus.event_stream",
            addr = Value::addr_of(&*self.shared),
            event_type = event_type
        );
        Ok(EventStream::new(
            &self.shared,
            queue,
            Some(key),
            reader,
            &options,
        ))
    }

    /// A stream of `(event_type, data)` for every event, with `options`;
    /// see [`EventStream`].
    ///
    /// Raises `asyncutils.channels.EventBus.event_stream` with `addr` and
    /// no `event_type`.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `buffer` if it is zero.
    pub fn all_events(
        &self,
        options: StreamOptions,
    ) -> Result<AllEvents<'_, T, C>, InvalidArgument> {
        options.validate()?;
        let (queue, reader) = {
            let mut state = self.shared.state.lock();
            let closed = self.shared.close_mode();
            let state = &mut *state;
            let slot = state.all_stream.get_or_insert_with(|| StreamSlot {
                queue: Arc::new(StreamQueue::new(options.buffer_size(), closed)),
                subscription: None,
            });
            let reader = slot.queue.attach(None);
            if slot.subscription.is_none() {
                let id = state.next_id;
                state.next_id += 1;
                slot.subscription = Some(id);
                state.registry.insert(
                    &Topic::Wildcard,
                    Entry {
                        id,
                        callback: Callback::AllStream(slot.queue.clone()),
                    },
                );
            }
            (slot.queue.clone(), reader)
        };
        crate::emit!(
            "asyncutils.channels.EventBus.event_stream",
            addr = Value::addr_of(&*self.shared),
            event_type = ()
        );
        Ok(EventStream::new(
            &self.shared,
            queue,
            None,
            reader,
            &options,
        ))
    }

    fn stream_queue(&self, event_type: &str) -> Result<Arc<StreamQueue<T>>, InvalidArgument> {
        let Topic::Exact(key) = exact_topic(event_type)? else {
            unreachable!("exact_topic gives an exact topic")
        };
        let mut state = self.shared.state.lock();
        let closed = self.shared.close_mode();
        Ok(state
            .streams
            .entry(key)
            .or_insert_with(|| StreamSlot {
                queue: Arc::new(StreamQueue::new(DEFAULT_STREAM_BUFFER, closed)),
                subscription: None,
            })
            .queue
            .clone())
    }

    fn all_queue(&self) -> Arc<StreamQueue<(Arc<str>, T)>> {
        let mut state = self.shared.state.lock();
        let closed = self.shared.close_mode();
        state
            .all_stream
            .get_or_insert_with(|| StreamSlot {
                queue: Arc::new(StreamQueue::new(DEFAULT_STREAM_BUFFER, closed)),
                subscription: None,
            })
            .queue
            .clone()
    }

    /// Puts `data` straight into the queue of `event_type`'s event stream
    /// (creating the queue, with the default buffer, if needed), bypassing
    /// middlewares and subscribers; waits for room if the queue is full.
    /// No stream needs to be open: the item waits in the queue.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`] naming `event_type` as for
    /// [`subscribe`](EventBus::subscribe).
    pub fn feed_event(&self, event_type: &str, data: T) -> Result<Feed<'_, C, T>, InvalidArgument> {
        let queue = self.stream_queue(event_type)?;
        Ok(Feed::new(&self.shared.clock, Push::new(queue, data, false)))
    }

    /// [`feed_event`](EventBus::feed_event) without waiting.
    ///
    /// # Errors
    ///
    /// With the data: [`FeedError::Full`] if the queue is full or others
    /// wait for room, [`FeedError::Closed`] if the bus was shut down,
    /// [`FeedError::InvalidEventType`] if `event_type` is empty or contains
    /// `*`.
    pub fn try_feed_event(&self, event_type: &str, data: T) -> Result<(), FeedError<T>> {
        let Ok(queue) = self.stream_queue(event_type) else {
            return Err(FeedError::InvalidEventType(data));
        };
        match queue.try_push(data, false) {
            TryPush::Done => Ok(()),
            TryPush::Full(d) => Err(FeedError::Full(d)),
            TryPush::Dropped(d) => Err(FeedError::Closed(d)),
        }
    }

    /// Puts `(event_type, data)` straight into the catch-all stream's
    /// queue; as [`feed_event`](EventBus::feed_event).
    pub fn feed_all(&self, event_type: &str, data: T) -> Feed<'_, C, (Arc<str>, T)> {
        let queue = self.all_queue();
        Feed::new(
            &self.shared.clock,
            Push::new(queue, (Arc::from(event_type), data), false),
        )
    }
}

impl<T, C> Shared<T, C> {
    /// An event stream ended: detach its reader; the last reader leaving
    /// unsubscribes the queue.
    pub(super) fn detach_stream(&self, key: Option<&Arc<str>>, reader: usize) {
        let wake = {
            let mut state = self.state.lock();
            let state = &mut *state;
            let ((remaining, wake), subscription, topic) = match key {
                Some(k) => {
                    let Some(slot) = state.streams.get_mut(&**k) else {
                        return;
                    };
                    (
                        slot.queue.detach(reader),
                        &mut slot.subscription,
                        Topic::Exact(k.clone()),
                    )
                }
                None => {
                    let Some(slot) = state.all_stream.as_mut() else {
                        return;
                    };
                    (
                        slot.queue.detach(reader),
                        &mut slot.subscription,
                        Topic::Wildcard,
                    )
                }
            };
            if remaining == 0 {
                if let Some(id) = subscription.take() {
                    state.registry.remove(&topic, id);
                }
            }
            wake
        };
        for w in wake {
            w.wake();
        }
    }
}
