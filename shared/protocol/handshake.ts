/**
 * Version 1 of the tidefs protocol. A connection starts with `hello` carrying this version and the
 * cluster id; a node refuses (UNAUTHORIZED, then closes) a peer of another cluster or version, so two
 * clusters on one machine can never mix their data.
 */
export const PROTOCOL_VERSION = 1;
export const CLUSTER_ID_DEFAULT = 'tidefs';
