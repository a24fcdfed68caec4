import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideNextLink, listingUrl, type NextLinkListing } from '../../src/graph/next-link.js';

const viaProxy: NextLinkListing = {
  cloudGraphHost: 'https://graph.microsoft.com',
  baseUrl: 'http://127.0.0.1:4000',
  apiVersion: 'beta',
  collection: 'mobileAppConfigurations',
  configurationId: 'cfg-1',
};
const direct: NextLinkListing = { ...viaProxy, baseUrl: 'https://graph.microsoft.com' };
const fresh = { requested: new Set<string>(), pages: 1, items: 100 };
const QUERY = '?$select=id&$top=100&$skiptoken=skipCount%3d100';

describe('decideNextLink', () => {
  it(
    "follows Graph's own form (absolute on graph.microsoft.com, key in parentheses) " + 'through GRAPH_BASE_URL, keeping only the query',
    () => {
      const decision = decideNextLink(
        `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses${QUERY}`,
        viaProxy,
        fresh,
      );
      assert.deepEqual(decision, {
        action: 'follow',
        url: `http://127.0.0.1:4000/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
      });
    },
  );

  it('follows the key-as-segment form, on the base host or the cloud host, and without GRAPH_BASE_URL on the cloud host itself', () => {
    for (const link of [
      `http://127.0.0.1:4000/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
    ]) {
      assert.deepEqual(decideNextLink(link, viaProxy, fresh), { action: 'follow', url: listingUrl(viaProxy, QUERY) }, link);
    }
    const decision = decideNextLink(
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations(%27cfg-1%27)/userStatuses${QUERY}`,
      direct,
      fresh,
    );
    assert.deepEqual(decision, {
      action: 'follow',
      url: `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
    });
  });

  it('matches ids in either form as Graph writes them: encoded characters, and a quote doubled inside parentheses', () => {
    const odd: NextLinkListing = { ...viaProxy, configurationId: "o'brien/1" };
    assert.equal(
      decideNextLink(
        `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('o''brien%2F1')/userStatuses?$skiptoken=x`,
        odd,
        fresh,
      ).action,
      'follow',
    );
    assert.equal(
      decideNextLink(
        `http://127.0.0.1:4000/beta/deviceAppManagement/mobileAppConfigurations/o'brien%2F1/userStatuses?$skiptoken=x`,
        odd,
        fresh,
      ).action,
      'follow',
    );
    assert.equal(
      decideNextLink(
        `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('o'brien%2F1')/userStatuses?$skiptoken=x`,
        odd,
        fresh,
      ).action,
      'refuse',
      'an undoubled quote is not this id',
    );
  });

  it('keeps a query holding :// as a query: the URL is built from our base and path, never read from the link', () => {
    const decision = decideNextLink(
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses?$skiptoken=http://beta/x&$top=5`,
      viaProxy,
      fresh,
    );
    assert.equal(decision.action, 'follow');
    const url = new URL((decision as { url: string }).url);
    assert.equal(url.origin, 'http://127.0.0.1:4000');
    assert.equal(url.pathname, '/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses');
    assert.equal(url.searchParams.get('$skiptoken'), 'http://beta/x');
  });

  it('refuses another host, another cloud, credentials in the link, another scheme, another listing, version or collection', () => {
    const path = `/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`;
    for (const link of [
      `http://169.254.169.254${path}`,
      `https://graph.microsoft.us${path}`,
      `https://graph.microsoft.com.evil.example${path}`,
      `http://127.0.0.1:4001${path}`,
      `https://user:pw@graph.microsoft.com${path}`,
      `ftp://graph.microsoft.com${path}`,
      `https://graph.microsoft.com/beta/users${QUERY}`,
      `https://graph.microsoft.com/v1.0/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
      `https://graph.microsoft.com/beta/deviceAppManagement/iosLobAppProvisioningConfigurations('cfg-1')/userStatuses${QUERY}`,
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-2')/userStatuses${QUERY}`,
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/../../cfg-2/userStatuses`,
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses/u-1`,
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations/cfg-1%2F..%2Fcfg-2/userStatuses`,
      '/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?$skiptoken=x',
      42,
    ]) {
      const decision = decideNextLink(link, viaProxy, fresh);
      assert.equal(decision.action, 'refuse', String(link));
    }
    assert.match(
      (decideNextLink(`http://169.254.169.254${path}`, viaProxy, fresh) as { reason: string }).reason,
      new RegExp(
        [
          /^refusing to follow @odata\.nextLink to http:\/\/169\.254\.169\.254\/beta\/.*: /,
          /not http:\/\/127\.0\.0\.1:4000\/beta\/deviceAppManagement\/mobileAppConfigurations\/cfg-1\/userStatuses /,
          /\(or the same listing on https:\/\/graph\.microsoft\.com\)$/,
        ]
          .map((part) => part.source)
          .join(''),
      ),
    );
  });

  it("follows the national cloud's host for that cloud only, and a base URL's own path prefix", () => {
    const gov: NextLinkListing = { ...viaProxy, cloudGraphHost: 'https://graph.microsoft.us', baseUrl: 'https://proxy.example/graph' };
    assert.equal(
      decideNextLink(
        `https://graph.microsoft.us/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses${QUERY}`,
        gov,
        fresh,
      ).action,
      'follow',
    );
    assert.equal(
      decideNextLink(
        `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses${QUERY}`,
        gov,
        fresh,
      ).action,
      'refuse',
    );
    assert.deepEqual(
      decideNextLink(`https://proxy.example/graph/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`, gov, fresh),
      {
        action: 'follow',
        url: `https://proxy.example/graph/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`,
      },
    );
    assert.equal(
      decideNextLink(`https://proxy.example/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${QUERY}`, gov, fresh)
        .action,
      'refuse',
      'outside the base path',
    );
  });

  it('stops a listing whose nextLink was already requested (in either form), saying it loops', () => {
    const requested = new Set([listingUrl(viaProxy, QUERY)]);
    const decision = decideNextLink(
      `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses${QUERY}`,
      viaProxy,
      { requested, pages: 7, items: 700 },
    );
    assert.equal(decision.action, 'stop');
    assert.match((decision as { reason: string }).reason, /mobileAppConfigurations\/cfg-1 loops: page 7 links back to a page already read/);
  });

  it('stops a listing that goes on past its bounds of pages or items', () => {
    const link = `https://graph.microsoft.com/beta/deviceAppManagement/mobileAppConfigurations('cfg-1')/userStatuses${QUERY}`;
    const bounds = { maxPages: 10, maxItems: 500 };
    assert.equal(decideNextLink(link, viaProxy, { requested: new Set(), pages: 9, items: 499 }, bounds).action, 'follow');
    for (const progress of [
      { pages: 10, items: 10 },
      { pages: 2, items: 500 },
    ]) {
      const decision = decideNextLink(link, viaProxy, { requested: new Set(), ...progress }, bounds);
      assert.equal(decision.action, 'stop');
      assert.match((decision as { reason: string }).reason, /goes on past \d+ pages and \d+ items, far more than a configuration holds/);
    }
  });
});
