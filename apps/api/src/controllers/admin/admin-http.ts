import { applyDecorators, Controller, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Origin } from '@gatehouse/core';
import { AdminGuard } from '../../http/guards';

/** An admin API controller under /v1/admin/<path>: the admin token required, documented as such. */
export const AdminController = (path: string) =>
  applyDecorators(ApiTags('admin'), ApiBearerAuth('admin-token'), UseGuards(AdminGuard), Controller(`v1/admin/${path}`));

/** The admin acting, as the audit trail records them. */
export const adminOrigin = (admin: string, sourceIp: string | null): Origin => ({ actor: { kind: 'admin', name: admin }, sourceIp });

/** A zod schema as the OpenAPI body of an endpoint. */
export const bodySchema = (schema: z.ZodType) => ({ schema: z.toJSONSchema(schema) as object });
