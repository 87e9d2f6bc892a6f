// A console served beside a real pipeline on the sandbox, for the API and browser tests; close() stops every one.
import { serveConsole, type ConsoleServer } from '../../src/console/server.ts';
import { readIdentities } from '../../src/runtime/plans.ts';
import { silentLogger } from '../../src/util/log.ts';
import { demoIdentityFile, demoRecipient, pipeline, type PipelineHandle } from './pipeline.ts';

export function consoleHarness() {
  const handles: PipelineHandle[] = [];
  const servers: ConsoleServer[] = [];
  return {
    handles,
    servers,
    /** A pipeline for the plan `spec` (Secrets encrypted to the demo key), started, and a console in run mode for it. */
    async consoleFor(spec: Record<string, unknown>): Promise<{ handle: PipelineHandle; server: ConsoleServer }> {
      const handle = await pipeline({ secrets: { recipients: [demoRecipient] }, ...spec });
      handles.push(handle);
      await handle.start();
      const server = await serveConsole({
        addr: '127.0.0.1:0', mode: 'run', state: handle.state, mirror: handle.mirror, identities: readIdentities([demoIdentityFile]), log: silentLogger,
        connectBus: async () => handle.bus, plans: () => handle.runtime.planContexts(),
      });
      servers.push(server);
      return { handle, server };
    },
    async close(): Promise<void> {
      await Promise.all(servers.map((server) => server.close()));
      await Promise.all(handles.map((handle) => handle.close()));
    },
  };
}
