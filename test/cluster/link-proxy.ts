import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy a test controls: one per directed peer link (from → to), so a test can cut
 * exactly the links a partition cuts. While blocked, existing connections are reset and new ones are
 * accepted and closed at once, which is what a peer sees when a network path is down.
 */
export class LinkProxy {
  private blocked = false;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly port: number, readonly targetPort: number) {}

  static async start(targetPort: number): Promise<LinkProxy> {
    let self: LinkProxy | undefined;
    const server = createServer((client) => self!.accept(client));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    self = new LinkProxy(server, port, targetPort);
    return self;
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.sockets.add(client).add(upstream);
    client.on('close', () => this.sockets.delete(client));
    upstream.on('close', () => this.sockets.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  block(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  unblock(): void {
    this.blocked = false;
  }
  get isBlocked(): boolean {
    return this.blocked;
  }

  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
