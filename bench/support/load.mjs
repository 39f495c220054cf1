// The load generator of api-read, in its own process: autocannon at `connections`, each request
// for the next id of the list, with a bearer token when given. Prints autocannon's result as JSON.
import autocannon from 'autocannon';

const [url, ids, connections, seconds, token] = [process.argv[2], process.argv[3].split(','), Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
let i = 0;
const result = await autocannon({
  url,
  connections,
  duration: seconds,
  headers: token ? { authorization: `Bearer ${token}` } : {},
  requests: [{ setupRequest: (req) => ({ ...req, path: `/api/fsm/bench/${ids[i++ % ids.length]}/current` }) }],
});
process.stdout.write(JSON.stringify({ rps: result.requests.average, total: result.requests.total, non2xx: result.non2xx, errors: result.errors, p99: result.latency.p99 }));
