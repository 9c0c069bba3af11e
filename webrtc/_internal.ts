/**
 * Hooks between the webrtc classes, filled in by each class's static block so they can reach its
 * `#private` state without widening its public surface (the convention of enet/_internal.ts).
 *
 * No Deno APIs and only type imports here: client.ts and data_channel.ts are bundled for the
 * browser.
 *
 * @module
 */

import type { WireCandidate } from "./_protocol.ts";
import type { ConnectMasterOptions, MasterConnection, SlaveConnection } from "./client.ts";
import type { DataChannel } from "./data_channel.ts";
import type { RTCPeerConnectionConstructor } from "./rtc_types.ts";
import type { ClientConnection, ConnectSlaveOptions, Slave } from "./slave.ts";

/** Private operations on a `DataChannel`. */
export interface DataChannelInternals {
  /** Closes the channel because its peer connection went away. */
  dispose(channel: DataChannel): void;
}

/** Private operations on a client's `MasterConnection`. */
export interface MasterConnectionInternals {
  /** Resolves on the first slave list. */
  firstList(master: MasterConnection): Promise<void>;
  options(master: MasterConnection): ConnectMasterOptions;
  peerConnection(master: MasterConnection): RTCPeerConnectionConstructor;
  /** Sends one packet; false if the link is down. */
  send(master: MasterConnection, packet: Uint8Array): boolean;
}

/** Private operations on a client's `SlaveConnection`, driven by its master connection. */
export interface SlaveConnectionInternals {
  /** Resolves once the last peer connection was released. */
  teardown(slave: SlaveConnection): Promise<void>;
  setUserData(slave: SlaveConnection, userData: unknown): void;
  /** The master no longer lists this slave: no new negotiations. */
  detach(slave: SlaveConnection): void;
  onAnswer(slave: SlaveConnection, sdp: string): void;
  onCandidate(slave: SlaveConnection, candidate: WireCandidate | null): void;
  onReject(slave: SlaveConnection, reason: string): void;
  onRemoteClose(slave: SlaveConnection, code: number, reason: string): void;
}

/** Private operations on a `Slave`, used by its client connections. */
export interface SlaveInternals {
  /** Resolves once registered at a master. */
  registered(slave: Slave): Promise<void>;
  options(slave: Slave): ConnectSlaveOptions;
  send(slave: Slave, packet: Uint8Array): boolean;
  /** A connection closed: drop it and track its teardown. */
  forget(slave: Slave, conn: ClientConnection): void;
  /** Whether `conn` may still signal through the master. */
  signalling(slave: Slave, conn: ClientConnection): boolean;
}

/** Private operations on a slave's `ClientConnection`, driven by its slave. */
export interface ClientConnectionInternals {
  /** Resolves once the native peer connection was closed. */
  teardown(conn: ClientConnection): Promise<void>;
  /** Returns false if the offer could not be applied (connection closed). */
  applyOffer(conn: ClientConnection, sdp: string): boolean;
  onCandidate(conn: ClientConnection, candidate: WireCandidate | null): void;
  onRemoteClose(conn: ClientConnection, code: number, reason: string): void;
  /** The signalling link went away (client left or master lost). */
  detach(conn: ClientConnection): void;
}

/** Set by data_channel.ts on load. */
export const dataChannelInternals = {} as DataChannelInternals;
/** Set by client.ts on load. */
export const masterConnectionInternals = {} as MasterConnectionInternals;
/** Set by client.ts on load. */
export const slaveConnectionInternals = {} as SlaveConnectionInternals;
/** Set by slave.ts on load. */
export const slaveInternals = {} as SlaveInternals;
/** Set by slave.ts on load. */
export const clientConnectionInternals = {} as ClientConnectionInternals;
