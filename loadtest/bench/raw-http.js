// Case 1 of make bench: the platform's limit, node:http answering a 302.
const http = require('node:http');

const server = http.createServer((req, res) => {
  res.writeHead(302, { Location: 'https://example.com/target' });
  res.end();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), () => process.send?.('ready'));
