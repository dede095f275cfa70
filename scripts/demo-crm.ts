import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { allowedColumns, GrantRequest, GrantVerifier, projectRow, requireGrant } from '@gatehouse/guard';

/** The CRM's own table, in schema demo_crm of the demo database: not a Gatehouse table. */
const COLUMNS = ['id', 'name', 'company', 'email', 'phone', 'address', 'ssn', 'notes'] as const;

const SEED = [
  [
    1,
    'Ada Lovelace',
    'Analytical Engines Ltd',
    'ada@analytical.example',
    '+44 20 7946 0001',
    '12 St James Sq, London',
    '078-05-1120',
    'Prefers email',
  ],
  [2, 'Grace Hopper', 'Compiler Works', 'grace@compiler.example', '+1 202 555 0142', '1 Navy Yard, Arlington', '219-09-9999', 'Renewal due in March'],
  [
    3,
    'Alan Turing',
    'Bletchley Analytics',
    'alan@bletchley.example',
    '+44 1908 640404',
    'Sherwood Dr, Bletchley',
    '457-55-5462',
    'Asked about the API',
  ],
];

/** Creates and seeds demo_crm.customers (idempotent: a rerun resets the rows). */
export async function seedCrm(pool: Pool): Promise<number> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS demo_crm`);
  await pool.query(`CREATE TABLE IF NOT EXISTS demo_crm.customers (
    id integer PRIMARY KEY, name text NOT NULL, company text, email text, phone text, address text, ssn text, notes text)`);
  for (const row of SEED) {
    await pool.query(
      `INSERT INTO demo_crm.customers (${COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
         .map((c) => `${c} = EXCLUDED.${c}`)
         .join(', ')}`,
      row,
    );
  }
  return SEED.length;
}

/** A running CRM resource server. */
export interface Crm {
  url: string;
  close(): Promise<void>;
}

/**
 * GET /customers behind the guard: only a live grant for crm.customers:read passes, and the query
 * selects only the granted columns, so ungranted data never leaves the database. projectRow is
 * the second belt.
 */
export async function startCrm(pool: Pool, verifier: GrantVerifier): Promise<Crm> {
  const guard = requireGrant(verifier, { resource: 'crm.customers', action: 'read' });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || req.url !== '/customers') {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: 'Try GET /customers.', details: [] } }));
      return;
    }
    const request = req as IncomingMessage & GrantRequest;
    guard(request, res, async () => {
      try {
        const grant = request.grant!;
        const columns = allowedColumns(grant, 'crm.customers').filter((c) => (COLUMNS as readonly string[]).includes(c));
        const { rows } = columns.length
          ? await pool.query(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM demo_crm.customers ORDER BY id`)
          : { rows: [] as Record<string, unknown>[] };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ columns, customers: rows.map((row) => projectRow(row, grant, 'crm.customers')) }));
      } catch (error) {
        res.statusCode = 503;
        res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: (error as Error).message, details: [] } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
