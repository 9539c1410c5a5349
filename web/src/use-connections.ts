/**
 * The account's connections, iClients and applications as the views need them,
 * loaded once per view: the Connections list and the flow builder (which
 * creates connections with the same {@link ConnectionPane}).
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, type Application, type Connection, type IClient } from "./api.ts";

export function useConnections() {
  const [connections, setConnections] = useState<Connection[]>();
  const [iclients, setIClients] = useState<IClient[]>([]);
  const [error, setError] = useState<string>();

  const refresh = useCallback(async () => {
    try {
      const [list, ics] = await Promise.all([api.connections(), api.iclients().catch(() => [] as IClient[])]);
      setConnections(list);
      setIClients(ics);
      setError(undefined);
    } catch (err) {
      setError(`Could not load connections: ${(err as Error).message}`);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const callbackUrl = connections?.find((c) => c.callbackUrl)?.callbackUrl ?? `${location.origin}/oauth2/callback`;
  return {
    connections,
    error,
    refresh,
    /** What {@link ConnectionPane} needs besides its application and callbacks. */
    paneProps: {
      connections: connections ?? [],
      iclients,
      callbackUrl,
      onIClientSaved: (ic: IClient) => setIClients((list) => [...list.filter((x) => x.id !== ic.id), ic]),
    },
  };
}

export function useApplications() {
  const [applications, setApplications] = useState<Application[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.applications().then(setApplications, (err) => setError(`Could not load applications: ${(err as Error).message}`));
  }, []);
  return { applications, error };
}
