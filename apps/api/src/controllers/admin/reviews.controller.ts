import { Get, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery } from '@nestjs/swagger';
import { BreakGlassReviews, listReviewsQuery, parseInput } from '@gatehouse/core';
import { AdminController } from './admin-http';

/** Break-glass accesses waiting for a person to look at them (acknowledge: POST /v1/admin/access-requests/{id}/acknowledge). */
@AdminController('reviews')
export class ReviewsController {
  constructor(private readonly reviews: BreakGlassReviews) {}

  @Get()
  @ApiOperation({
    summary:
      'Break-glass accesses, oldest first: each request with when it broke glass, which agent for which user, what was granted and why; ' +
      'status=open (default: not yet acknowledged) or acknowledged; cursor pages',
  })
  @ApiQuery({ name: 'status', required: false, enum: ['open', 'acknowledged'] })
  @ApiQuery({ name: 'limit', required: false, type: Number })
  @ApiQuery({ name: 'cursor', required: false, type: String })
  list(@Query() query: unknown) {
    return this.reviews.list(parseInput(listReviewsQuery, query, 'query'), new Date());
  }
}
