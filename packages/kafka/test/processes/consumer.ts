/**
 * A consumer in its own process, for the test that kills one midway: delivers each record into
 * a MySQL table keyed by message id (each delivery counted), then prints one JSON line.
 */
import mysql from 'mysql2/promise';
import { MessageConsumer } from '../../src/index.js';

interface Config {
  brokers: string[];
  topic: string;
  groupId: string;
  mysqlUrl: string;
  table: string;
}

const config = JSON.parse(process.argv[2]!) as Config;
const pool = mysql.createPool({ uri: config.mysqlUrl, connectionLimit: 2 });
const consumer = new MessageConsumer({
  brokers: config.brokers,
  topics: config.topic,
  groupId: config.groupId,
  fromBeginning: true,
  sessionTimeoutMs: 6000,
  deliver: async (m) => {
    await pool.query(`INSERT INTO \`${config.table}\` (message_id, payload, deliveries) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE deliveries = deliveries + 1`, [
      m.messageId,
      JSON.stringify(m.payload),
    ]);
    console.log(JSON.stringify({ event: 'delivered', id: m.messageId }));
  },
});
await consumer.start();
console.log(JSON.stringify({ event: 'started' }));
