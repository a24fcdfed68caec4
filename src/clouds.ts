/** Graph and Entra hosts per national cloud. Both must come from the same cloud or token audiences will not match. */
export const GRAPH_CLOUDS = {
  global: { graphHost: 'https://graph.microsoft.com', authorityHost: 'https://login.microsoftonline.com' },
  usgov: { graphHost: 'https://graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us' },
  usgovdod: { graphHost: 'https://dod-graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us' },
  china: { graphHost: 'https://microsoftgraph.chinacloudapi.cn', authorityHost: 'https://login.chinacloudapi.cn' },
} as const;

export type GraphCloud = keyof typeof GRAPH_CLOUDS;

/** The token scope is always the cloud's Graph host, even when GRAPH_BASE_URL points elsewhere (a proxy or the simulator). */
export function graphScopeFor(cloud: GraphCloud): string {
  return `${GRAPH_CLOUDS[cloud].graphHost}/.default`;
}

/** Whether an authority host is one of the national clouds' (MSAL knows those without instance discovery). */
export function isCloudAuthority(authorityHost: string): boolean {
  const host = authorityHost.replace(/\/+$/, '').toLowerCase();
  return Object.values(GRAPH_CLOUDS).some((c) => c.authorityHost === host);
}
