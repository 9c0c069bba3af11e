/**
 * An `EventTarget` whose `addEventListener` / `removeEventListener` know the event type of each
 * event name, so `target.addEventListener("message", (e) => e.detail.content)` type-checks
 * without a cast. Every event-dispatching class of the package extends it with its own event map
 * (`MeshEventMap`, `MasterEventMap`, …); names outside the map still take a plain listener.
 *
 * Shared by every module; re-exported by the entry points whose classes extend it (`webrtc`,
 * `webrtc/slave`, `webrtc/client`, `mesh`).
 *
 * @module
 */

/**
 * A listener for events of type `E`: a function, or an object with `handleEvent`.
 *
 * @example
 * ```ts
 * import type { TypedEventListener } from "@netkit/realtime/mesh";
 * const onMessage: TypedEventListener<CustomEvent<string>> = (e) => console.log(e.detail);
 * ```
 */
export type TypedEventListener<E extends Event> =
  | ((event: E) => void)
  | { handleEvent(event: E): void };

/**
 * An `EventTarget` typed by an event map: an interface from event name to event type, like
 * `{ change: CustomEvent<MeshStateChange>; close: Event }`. Listeners of mapped names receive
 * the mapped event type; any other name takes a plain `EventListener`.
 *
 * @typeParam M The event map: event name → event type.
 *
 * @example
 * ```ts
 * import { TypedEventTarget } from "@netkit/realtime/mesh";
 * interface ClockEventMap {
 *   tick: CustomEvent<number>;
 * }
 * class Clock extends TypedEventTarget<ClockEventMap> {}
 * const clock = new Clock();
 * clock.addEventListener("tick", (e) => console.log(e.detail.toFixed(1)));
 * clock.dispatchEvent(new CustomEvent("tick", { detail: 1 }));
 * ```
 */
export class TypedEventTarget<M extends { [K in keyof M]: Event }> extends EventTarget {
  /**
   * Adds a listener; for a name of the event map it receives that event's type.
   *
   * @example
   * ```ts
   * import { TypedEventTarget } from "@netkit/realtime/mesh";
   * const target = new TypedEventTarget<{ ping: CustomEvent<string> }>();
   * target.addEventListener("ping", (e) => console.log(e.detail.toUpperCase()));
   * ```
   */
  override addEventListener<K extends keyof M & string>(
    type: K,
    listener: TypedEventListener<M[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Untyped form, for any event name outside the event map. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    // deno-lint-ignore no-explicit-any
    listener: any,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with `addEventListener`.
   *
   * @example
   * ```ts
   * import { TypedEventTarget } from "@netkit/realtime/mesh";
   * const target = new TypedEventTarget<{ ping: CustomEvent<string> }>();
   * const onPing = (e: CustomEvent<string>) => console.log(e.detail);
   * target.addEventListener("ping", onPing);
   * target.removeEventListener("ping", onPing);
   * ```
   */
  override removeEventListener<K extends keyof M & string>(
    type: K,
    listener: TypedEventListener<M[K]> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Untyped form, for any event name outside the event map. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    // deno-lint-ignore no-explicit-any
    listener: any,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}
