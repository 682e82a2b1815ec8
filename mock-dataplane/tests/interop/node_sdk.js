// Drive @rudderstack/rudder-sdk-node against a data plane: identify/track/group/page/alias,
// gzip on (default), default batching. Usage: node node_sdk.js URL WRITE_KEY RUN_ID.
// Exit 1 if the SDK reported errors.
const Analytics = require('@rudderstack/rudder-sdk-node');

const [url, key, run] = process.argv.slice(2);
const errors = [];
const client = new Analytics(key, {
  dataPlaneUrl: url,
  logLevel: 'error',
  errorHandler: (err) => errors.push(String(err)),
});
const user = `${run}-user`;
client.identify({ userId: user, traits: { email: 'a@example.com', plan: 'pro' } });
client.track({ userId: user, event: 'Order Completed', properties: { revenue: 9.99, currency: 'EUR' } });
client.group({ userId: user, groupId: 'group-1', traits: { name: 'Acme' } });
client.page({ userId: user, category: 'Docs', name: 'Home', properties: { url: 'http://example.com' } });
client.alias({ previousId: `${run}-old`, userId: user });
client.flush(() => {
  if (errors.length > 0) {
    console.log(JSON.stringify(errors));
    process.exit(1);
  }
  console.log('sent 5');
  process.exit(0);
});
