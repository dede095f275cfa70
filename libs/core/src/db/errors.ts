import { Prisma } from '@gatehouse/prisma';

/** A unique constraint refused the write: from a Prisma model call (P2002), raw SQL through Prisma, or the pool (23505). */
export function isUniqueViolation(error: unknown): boolean {
  if ((error as { code?: unknown })?.code === '23505') return true;
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code === 'P2002') return true;
  const meta = error.meta as { code?: string; driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } } | undefined;
  return (
    meta?.code === '23505' ||
    meta?.driverAdapterError?.cause?.originalCode === '23505' ||
    meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation'
  );
}
